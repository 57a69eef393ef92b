"""Per-project quotas: each project's limits, its usage, and the checks uploads go through.

The resources are Glance's unified limits (glance/quota/keystone.py), counted in bytes:

- image_size_total: bytes of the project's images that hold data (active, deactivated).
  By default an image counts once, however many stores hold a copy: copies are made by the
  operator (copy-image is an admin's call, as Glance's default policy copy_image), so they
  do not eat into the owner's quota. Where owners may copy (copy_image = "owner"), every
  stored copy counts, size × locations, as Glance counts.
- image_stage_total: bytes staged for a glance-direct import (images uploading/importing).
- image_count_total: the project's images, deleted and killed ones excepted.
- image_count_uploading: uploads, stages and imports in progress, copies included.

The project charged is the image's owner, whoever asks; admins are not exempt (their own
project is limited like any other unless its limits are -1). Limits come from the
configuration's [quotas] table (settings.IMAGE_QUOTAS), overridden per project by an
admin (accounts.ProjectQuota); -1 is unlimited.
"""
from django.conf import settings
from django.db.models import Count, Q, Sum

from accounts.models import Project, ProjectQuota
from images.exceptions import QuotaExceeded
from images.models import Image, ImageProperty
from stores.config import QUOTA_RESOURCES

UNLIMITED = -1
RESOURCES = tuple(QUOTA_RESOURCES)
Status = Image.Status
HOLDS_DATA = (Status.ACTIVE, Status.DEACTIVATED, Status.PENDING_DELETE)
STAGED = (Status.UPLOADING, Status.IMPORTING)
IN_PROGRESS = (Status.SAVING, Status.UPLOADING, Status.IMPORTING)
GONE = (Status.KILLED, Status.DELETED)
# The import flow's progress property (images.services.imports.IMPORTING): non-empty while
# a copy-image runs on an otherwise active image.
IMPORTING_PROPERTY = "os_glance_importing_to_stores"
UNITS = {"image_size_total": "bytes", "image_stage_total": "bytes",
         "image_count_total": "images", "image_count_uploading": "uploads in progress"}


def limits_for(project):
    """{resource: limit} for the project id `project`; -1 is unlimited."""
    defaults = getattr(settings, "IMAGE_QUOTAS", None) or {}
    limits = {name: defaults.get(name, UNLIMITED) for name in RESOURCES}
    override = ProjectQuota.objects.filter(project_id=project).first() if project else None
    for name in RESOURCES:
        value = getattr(override, name, None)
        if value is not None:
            limits[name] = value
    return limits


def _owned(project):
    return Image.objects.filter(owner=project)


def _size_of(queryset):
    return queryset.aggregate(total=Sum("size"))["total"] or 0


def copies_count():
    """Whether image_size_total counts every stored copy: where owners make copies."""
    return settings.COPY_IMAGE == "owner"


def _data_usage(images):
    """image_size_total's usage of the images `images`: each once, or each stored copy
    where copies count (an image being written has no location yet: it counts once)."""
    if not copies_count():
        return _size_of(images)
    stored = images.annotate(copies=Count("locations", filter=Q(locations__deleted=False)))
    return sum((size or 0) * max(copies, 1) for size, copies in stored.values_list("size",
                                                                                "copies"))


def _count_uploading(project):
    images = _owned(project)
    copying = images.exclude(status__in=IN_PROGRESS + GONE).filter(
        id__in=ImageProperty.objects.filter(name=IMPORTING_PROPERTY).exclude(value="")
        .values("image_id"))
    return images.filter(status__in=IN_PROGRESS).count() + copying.count()


def usage_of(project):
    """{resource: usage} of the project id `project` (bytes and counts)."""
    if not project:
        return dict.fromkeys(RESOURCES, 0)
    images = _owned(project)
    return {
        "image_size_total": _data_usage(images.filter(status__in=HOLDS_DATA)),
        "image_stage_total": _size_of(images.filter(status__in=STAGED)),
        "image_count_total": images.exclude(status__in=GONE).count(),
        "image_count_uploading": _count_uploading(project),
    }


def usage_report(project):
    """[{"resource", "usage", "limit", "unit"}] for each resource, in Glance's order."""
    limits, usage = limits_for(project), usage_of(project)
    return [{"resource": name, "usage": usage[name], "limit": limits[name],
             "unit": UNITS[name]} for name in RESOURCES]


def usage_by_project():
    """[(Project, usage_report)] for every project, by name: the admins' overview."""
    return [(project, usage_report(project.id)) for project in Project.objects.order_by("name")]


def _amount(value, resource):
    unit = UNITS[resource]
    if value == 1:
        unit = unit.replace("s", "", 1) if unit != "bytes" else "byte"
    return f"{value} {unit}"


def refuse(resource, *, limit, usage, adding=None):
    message = (f"Quota exceeded for {resource}: the limit is {_amount(limit, resource)} and "
               f"the project uses {_amount(usage, resource)}")
    if adding is not None:
        message += f"; this request would add {_amount(adding, resource)}"
    raise QuotaExceeded(message + ".", resource=resource, limit=limit, usage=usage)


def check_image_create(owner):
    """image_count_total, before a new image of `owner` is recorded."""
    if not owner:
        return
    limit = limits_for(owner)["image_count_total"]
    if limit == UNLIMITED:
        return
    usage = _owned(owner).exclude(status__in=GONE).count()
    if usage + 1 > limit:
        refuse("image_count_total", limit=limit, usage=usage, adding=1)


def check_import(image, method, copies=0):
    """Before an import's task is queued: its data must fit in image_size_total (a
    glance-direct import's staged size is known; a web-download is also stopped while it
    downloads), and a web-download is one more upload in progress. A copy-image into
    `copies` more stores is checked only where copies count."""
    if not image.owner or method == "copy-image" and not copies_count():
        return
    limits = limits_for(image.owner)
    limit = limits["image_size_total"]
    if limit != UNLIMITED:
        if method == "copy-image":
            usage = _data_usage(_owned(image.owner).filter(status__in=HOLDS_DATA))
            adding = (image.size or 0) * copies
            if usage + adding > limit:
                refuse("image_size_total", limit=limit, usage=usage, adding=adding)
            return
        usage = _data_usage(_owned(image.owner).filter(status__in=HOLDS_DATA).exclude(
            pk=image.pk))
        adding = image.size if method == "glance-direct" else None
        if usage + (adding or 0) > limit or adding is None and usage >= limit:
            refuse("image_size_total", limit=limit, usage=usage, adding=adding)
    limit = limits["image_count_uploading"]
    if method == "web-download" and limit != UNLIMITED:
        usage = _count_uploading(image.owner)
        if usage + 1 > limit:
            refuse("image_count_uploading", limit=limit, usage=usage, adding=1)


class DataQuota:
    """The quota one upload (`image_size_total`) or stage (`image_stage_total`) runs under.

    Built before the image changes status: refuses an announced size that does not fit, or
    a project already at its limit of uploads in progress. `start()` counts again once the
    image is `saving`/`uploading`, so of two racing starts none passes the limit. `reader()`
    stops the stream past the bytes the project has left, and `check_final()`, inside the
    transaction that records the data, locks the project's images and counts once more, so
    two uploads that streamed side by side cannot together pass the limit.
    """

    def __init__(self, image, *, resource, expected_size=None):
        self.image, self.resource, self.project = image, resource, image.owner
        limits = limits_for(self.project) if self.project else dict.fromkeys(RESOURCES,
                                                                             UNLIMITED)
        self.limit, self.uploading_limit = limits[resource], limits["image_count_uploading"]
        self.remaining = None
        if self.uploading_limit != UNLIMITED:
            usage = self._uploading_others()
            if usage + 1 > self.uploading_limit:
                refuse("image_count_uploading", limit=self.uploading_limit, usage=usage,
                       adding=1)
        if self.limit != UNLIMITED:
            others = self._counted().exclude(pk=image.pk)
            usage = (_data_usage(others) if resource == "image_size_total"
                     else _size_of(others))
            self.remaining = self.limit - usage
            if expected_size is not None and expected_size > self.remaining or \
                    expected_size is None and self.remaining <= 0:
                refuse(resource, limit=self.limit, usage=usage, adding=expected_size)

    def _counted(self):
        return _owned(self.project).filter(
            status__in=HOLDS_DATA if self.resource == "image_size_total" else STAGED)

    def _uploading_others(self):
        return _count_uploading(self.project) - (self.image.status in IN_PROGRESS)

    def start(self):
        """Once the image is in progress: this upload included, are there too many?"""
        if self.uploading_limit == UNLIMITED:
            return
        usage = _count_uploading(self.project)
        if usage > self.uploading_limit:
            refuse("image_count_uploading", limit=self.uploading_limit, usage=usage - 1,
                   adding=1)

    def reader(self, stream):
        """`stream`, stopped as soon as it passes the bytes the project has left."""
        return stream if self.remaining is None else _QuotaReader(stream, self)

    def check_final(self, size):
        """In the transaction recording `size` bytes: lock the project's images and refuse
        if, with what other uploads recorded meanwhile, the limit would be passed."""
        _check_locked(self.image, self.resource, self.limit, size)


def check_activation(image, size):
    """image_size_total again, in the transaction that activates an imported image: other
    uploads and imports may have recorded data since the import was accepted."""
    if image.owner:
        _check_locked(image, "image_size_total", limits_for(image.owner)["image_size_total"],
                      size)


def _check_locked(image, resource, limit, size):
    if limit == UNLIMITED:
        return
    # Locks every live image of the project in one order (by id), so concurrent
    # activations queue up here and each counts what the previous ones committed.
    rows = list(Image.objects.select_for_update().filter(owner=image.owner)
                .order_by("pk").values_list("pk", "status", "size"))
    counted = HOLDS_DATA if resource == "image_size_total" else STAGED
    if resource == "image_size_total" and copies_count():
        usage = _data_usage(_owned(image.owner).filter(status__in=counted).exclude(
            pk=image.pk))
    else:
        usage = sum(size or 0 for pk, status, size in rows
                    if status in counted and pk != image.pk)
    if usage + size > limit:
        refuse(resource, limit=limit, usage=usage, adding=size)


class _QuotaReader:
    def __init__(self, stream, quota):
        self._stream, self._quota, self.size = stream, quota, 0

    def read(self, n=-1):
        chunk = self._stream.read(n)
        self.size += len(chunk)
        if self.size > self._quota.remaining:
            quota = self._quota
            refuse(quota.resource, limit=quota.limit, usage=quota.limit - quota.remaining,
                   adding=f"more than {quota.remaining}")
        return chunk
