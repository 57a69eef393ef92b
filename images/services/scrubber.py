"""The scrubber: removes the data of deleted images, restores `pending_delete` images, and
cleans what interrupted uploads and imports left in the stores.

Glance's glance-scrubber does the first two (`delayed_delete`, `scrub_time`, `--restore`).
Of what no database references, only objects the write journal proves this portal wrote
are ever removed: stores are shared with a Glance and other writers.
Every step re-checks the database under a row lock, so two scrubbers at once (two beat
schedules, a command beside the worker) remove each object once, and a restore never races
a removal: a location being scrubbed is locked, and a restored one is `active` again.
"""
import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from images.exceptions import Conflict, ImageError, NotFound
from images.models import Image, ImageLocation, ImageMember, ImageProperty, ImageTag
from images.selectors import is_uuid
from images.services.audit import Result, store_orphans
from images.services.data import UPLOAD_ERROR_PROPERTY, _set_status
from images.services.properties import property_set
from images.services.repair import leftover_delete
from images.services.writes import journal_rows_open
from stores.exceptions import InvalidLocation, StoreError, StoreReadOnly
from stores.locations import redact
from stores.registry import all_stores, store_for_uri

logger = logging.getLogger(__name__)
Status = Image.Status
LocationStatus = ImageLocation.Status


@dataclass
class ScrubReport:
    """What one run did (or, in a dry run, would do): lists of (image id, store, location)."""

    removed: list = field(default_factory=list)
    failed: list = field(default_factory=list)
    deleted_images: list = field(default_factory=list)
    waiting: list = field(default_factory=list)
    reset_uploads: list = field(default_factory=list)
    leftovers: list = field(default_factory=list)
    kept_leftovers: list = field(default_factory=list)

    def counts(self):
        return {name: len(value) for name, value in vars(self).items()}


def scrub_run(*, now=None, dry_run=False, leftovers=True):
    """One scrubber pass: data of deleted images whose scrub time has passed, then what
    interrupted uploads, copies and imports left. The write journal names those without
    listing any store; with `leftovers` every store is listed too, for objects of the
    portal's whose journal row was closed but that nothing references any more.

    A store that fails leaves its locations `pending_delete` and their image in
    `pending_delete`: the next run tries again. Returns a ScrubReport.
    """
    now = now or timezone.now()
    report = ScrubReport()
    pending_images_scrub(now=now, dry_run=dry_run, report=report)
    leftovers_scrub(now=now, dry_run=dry_run, report=report, listing=leftovers)
    return report


def _due(now):
    """Locations waiting for removal, in order: those of images deleted at least SCRUB_TIME
    ago, and those whose removal failed earlier (a store was down) whatever their image."""
    cutoff = now - timedelta(seconds=settings.SCRUB_TIME)
    return (ImageLocation.all_objects.filter(status=LocationStatus.PENDING_DELETE)
            .exclude(image__status=Status.PENDING_DELETE, image__deleted_at__gt=cutoff)
            .order_by("image_id", "id").values_list("id", "image_id", "value", "meta_data"))


def pending_images_scrub(*, now, dry_run=False, report=None):
    """Remove the data of every location that is due, one location at a time; an image
    `pending_delete` becomes `deleted` once none of its data is left."""
    report = report or ScrubReport()
    images = []
    # Read first, removed after: each removal commits, and a cursor kept open across commits
    # on the table it changes is not something every database promises to handle.
    for location_id, image_id, value, meta_data in list(_due(now)):
        store = (meta_data or {}).get("store", "")
        entry = (image_id, store, redact(value))
        if image_id not in images:
            images.append(image_id)
        done = True if dry_run else location_scrub(location_id=location_id, now=now)
        if done is False:
            report.failed.append(entry)
        elif done:
            report.removed.append(entry)
    cutoff = now - timedelta(seconds=settings.SCRUB_TIME)
    report.waiting.extend(Image.all_objects.filter(
        status=Status.PENDING_DELETE, deleted_at__gt=cutoff).values_list("id", flat=True))
    if not dry_run:
        for image_id in images:
            if _image_finish(image_id, now=now):
                report.deleted_images.append(image_id)
    return report


def _lock(queryset):
    """The rows, locked for this transaction; rows another scrubber holds are skipped."""
    features = connection.features
    if not features.has_select_for_update:
        return queryset  # SQLite: transactions are IMMEDIATE, one writer at a time
    return queryset.select_for_update(skip_locked=features.has_select_for_update_skip_locked)


def location_scrub(*, location_id, now=None):
    """Remove one `pending_delete` location's data, then mark the row deleted.

    Returns True when this call removed it, None when there was nothing to do (another
    scrubber holds or has removed it, or a restore revived it), False when its store failed;
    the row then stays `pending_delete` for the next run. The row lock is held while the
    store deletes, so a second scrubber skips it and a restore waits, then finds it deleted.
    """
    now = now or timezone.now()
    with transaction.atomic():
        location = _lock(ImageLocation.all_objects.filter(
            pk=location_id, status=LocationStatus.PENDING_DELETE)).first()
        if location is None:
            return None
        try:
            store = store_for_uri(location.value, hint=location.store or None)
            store.delete(location.value)
        except StoreReadOnly:
            pass  # an http location's data is not the portal's to remove; forget the row
        except (StoreError, InvalidLocation) as exc:
            logger.warning("scrubber: location %s of image %s not removed yet: %s",
                           location.id, location.image_id, exc)
            return False
        ImageLocation.all_objects.filter(pk=location.pk).update(
            status=LocationStatus.DELETED, deleted=True,
            deleted_at=location.deleted_at or now, updated_at=now)
    logger.info("scrubber: image %s removed from store %s", location.image_id, location.store)
    return True


def _image_finish(image_id, *, now):
    """`pending_delete` → `deleted` when none of the image's data is left; else False."""
    with transaction.atomic():
        # Waits for the lock rather than skip: a scrubber that skipped here could leave the
        # last word to one that looked while the other's removal was not yet committed.
        image = (Image.all_objects.select_for_update()
                 .filter(pk=image_id, status=Status.PENDING_DELETE).first())
        if image is None or ImageLocation.all_objects.filter(
                image_id=image_id, status__in=[LocationStatus.ACTIVE,
                                               LocationStatus.PENDING_DELETE]).exists():
            return False
        Image.all_objects.filter(pk=image_id).update(status=Status.DELETED, updated_at=now)
    logger.info("scrubber: image %s scrubbed", image_id)
    return True


def image_restore(*, image_id):
    """Bring a `pending_delete` image back to `active`, with its locations, tags, properties
    and members as they were (glance-scrubber --restore).

    Conflict when the image is not `pending_delete`, or when the scrubber has already
    removed all of its data.
    """
    if not is_uuid(image_id):
        raise NotFound(f"No image found with ID {image_id}")
    now = timezone.now()
    with transaction.atomic():
        image = Image.all_objects.select_for_update().filter(pk=str(image_id).lower()).first()
        if image is None:
            raise NotFound(f"No image found with ID {image_id}")
        if image.status != Status.PENDING_DELETE:
            raise Conflict(f"Cannot restore the image from {image.status} to active (wanted "
                           "from_state=pending_delete)")
        # Only the locations the delete hid; one left pending_delete by a failed removal of a
        # single copy stays on its way out.
        revived = ImageLocation.all_objects.filter(
            image_id=image.pk, status=LocationStatus.PENDING_DELETE, deleted=True).update(
            status=LocationStatus.ACTIVE, deleted=False, deleted_at=None, updated_at=now)
        if not revived:
            raise Conflict(f"Image {image.id}'s data has already been scrubbed")
        for model in (ImageTag, ImageProperty, ImageMember):
            model.all_objects.filter(image_id=image.pk, deleted=True,
                                     deleted_at=image.deleted_at).update(
                deleted=False, deleted_at=None, updated_at=now)
        Image.all_objects.filter(pk=image.pk).update(status=Status.ACTIVE, deleted=False,
                                                     deleted_at=None, updated_at=now)
    logger.info("image %s restored", image.pk)
    return Image.objects.get(pk=image.pk)


def pending_delete_images():
    """Images waiting for the scrubber, oldest deletion first (what an admin may restore)."""
    return Image.all_objects.filter(status=Status.PENDING_DELETE).order_by("deleted_at", "id")


def stale_uploads_reset(*, now, dry_run=False, report=None):
    """Put images whose upload has been `saving` for STALE_UPLOAD_AGE back to `queued`: the
    process writing them died. Their partial object is then a leftover like any other."""
    report = report or ScrubReport()
    cutoff = now - timedelta(seconds=settings.STALE_UPLOAD_AGE)
    for image in Image.objects.filter(status=Status.SAVING, updated_at__lt=cutoff):
        if dry_run:
            report.reset_uploads.append(image.id)
        elif _set_status(image, expected=[Status.SAVING], status=Status.QUEUED, size=None,
                         virtual_size=None):
            property_set(image, UPLOAD_ERROR_PROPERTY,
                         "The upload was interrupted; upload the data again.")
            report.reset_uploads.append(image.id)
    return report


def leftovers_scrub(*, now, dry_run=False, report=None, listing=True):
    """Remove what interrupted uploads, copies and imports of this portal left (staged data
    of failed imports included) once LEFTOVER_AGE old: the objects and segments that the
    write journal shows the portal wrote and nothing references.

    Candidates are the journal rows still open (a write that died: found without listing a
    store, segments whose object is gone included) and, with `listing`, the audit's
    `leftover`s (audit.store_orphans); each is re-checked and removed by
    repair.leftover_delete. A `foreign` object, which the portal did not write, is never
    touched. A store that cannot be listed is skipped until the next run.
    """
    report = report or ScrubReport()
    stale_uploads_reset(now=now, dry_run=dry_run, report=report)
    older_than = now - timedelta(seconds=settings.LEFTOVER_AGE)
    for store in all_stores():
        if store.read_only:
            continue
        keys = set(journal_rows_open(store=store.name, started_before=older_than)
                   .values_list("key", flat=True))
        if listing:
            findings = store_orphans(store)
            if any(finding.finding == Result.UNREACHABLE for finding in findings):
                logger.warning("scrubber: store %s skipped: %s", store.name,
                               findings[0].detail)
                continue
            keys.update(store.key_of(finding.location) for finding in findings
                        if finding.finding == Result.LEFTOVER)
        for key in sorted(keys):
            location = store.uri_for(key)
            entry = (None, store.name, redact(location))
            try:
                leftover_delete(store_name=store.name, location=location,
                                older_than=older_than, dry_run=dry_run)
            except (ImageError, StoreError) as exc:
                report.kept_leftovers.append((*entry[:2], f"{entry[2]}: "
                                              f"{getattr(exc, 'message', exc)}"))
                continue
            report.leftovers.append(entry)
    return report
