"""Copy an existing Glance database's image records into the portal's database.

Only rows are copied, never image data: the location values keep pointing where Glance
stored the bytes. Soft-deleted rows are copied too, so an image id Glance used is never
handed out again (OSSN-0075).
"""
from collections import defaultdict
from dataclasses import dataclass, field

from django.db import transaction

from images.models import Image, ImageLocation, ImageMember, ImageProperty, ImageTag

# Child tables and the column that, with image_id, identifies a row in both databases.
# Their own ids are not copied: the portal's database hands out its own.
CHILDREN = [
    (ImageProperty, "name"),
    (ImageTag, "value"),
    (ImageMember, "member"),
    (ImageLocation, "value"),
]


@dataclass
class TablePlan:
    """What an import does to one table: rows to create, rows to update (pk, values)."""

    table: str
    new: list = field(default_factory=list)
    updated: list = field(default_factory=list)
    unchanged: int = 0

    def counts(self):
        return {"new": len(self.new), "updated": len(self.updated), "unchanged": self.unchanged}


def _columns(model):
    return [f.attname for f in model._meta.concrete_fields if not f.primary_key]


def _plan_images(source, target):
    columns = _columns(Image)
    plan = TablePlan(Image._meta.db_table)
    rows = list(Image.all_objects.using(source).order_by("created_at", "id")
                .values("id", *columns))
    existing = {r["id"]: r for r in Image.all_objects.using(target)
                .filter(id__in=[r["id"] for r in rows]).values("id", *columns)}
    for row in rows:
        mine = existing.get(row["id"])
        if mine is None:
            plan.new.append(Image(**row))
        elif mine != row:
            plan.updated.append((row["id"], {c: row[c] for c in columns}))
        else:
            plan.unchanged += 1
    return plan, [r["id"] for r in rows]


def _plan_children(model, key, image_ids, source, target):
    """Pair rows by (image_id, key) in id order: the n-th Glance row with the n-th of ours."""
    columns = _columns(model)
    plan = TablePlan(model._meta.db_table)
    theirs = defaultdict(list)
    for row in model.all_objects.using(source).order_by("id").values(*columns):
        theirs[(row["image_id"], row[key])].append(row)
    mine = defaultdict(list)
    for row in (model.all_objects.using(target).filter(image_id__in=image_ids)
                .order_by("id").values("id", *columns)):
        mine[(row["image_id"], row[key])].append(row)
    for pair, rows in theirs.items():
        ours = mine.get(pair, [])
        for i, row in enumerate(rows):
            if i >= len(ours):
                plan.new.append(model(**row))
                continue
            pk = ours[i].pop("id")
            if ours[i] != row:
                plan.updated.append((pk, row))
            else:
                plan.unchanged += 1
    return plan


def glance_db_import(*, source="glance", target="default", dry_run=False):
    """Upsert the images, properties, tags, members and locations of `source` into `target`.

    Images are matched by id, child rows by (image_id, name/value/member/value); running it
    again changes nothing. With dry_run nothing is written. Returns the TablePlans, images
    first. `source` is only read.
    """
    plans = []
    image_plan, image_ids = _plan_images(source, target)
    plans.append(image_plan)
    for model, key in CHILDREN:
        plans.append(_plan_children(model, key, image_ids, source, target))
    if dry_run:
        return plans
    models = [Image] + [model for model, _ in CHILDREN]
    with transaction.atomic(using=target):
        for model, plan in zip(models, plans):
            # bulk_create and update(): Model.save() would stamp updated_at with "now".
            model.all_objects.using(target).bulk_create(plan.new, batch_size=500)
            for pk, values in plan.updated:
                model.all_objects.using(target).filter(pk=pk).update(**values)
    return plans
