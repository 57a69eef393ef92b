"""Image data: upload, download, copy and delete, each streaming the bytes once."""
import logging
import time

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from images.exceptions import (Conflict, Forbidden, Gone, Invalid, NoData, NotFound,
                               StoreFailed, TooLarge)
from images.models import Image, ImageLocation, ImageProperty, ImageTag, StoreWrite
from images.selectors import image_locations
from images.services.properties import property_drop, property_set
from images.services.quotas import DataQuota
from images.services.writes import (HASH_ALGO, Purpose, data_write, journal_close_all,
                                    written_recorded, written_remove)
from stores import health as store_health
from stores.exceptions import InvalidLocation, StoreError, UnknownStore
from stores.registry import all_stores, client_stores, get_store, reserved, store_for_uri

logger = logging.getLogger(__name__)

# Hidden image property holding the URI of data staged for a glance-direct import.
STAGING_PROPERTY = "os_glance_staging_uri"
# Hidden image property with the reason the last upload failed, so that an image back in
# `queued` after a failure says why (the portal shows it).
UPLOAD_ERROR_PROPERTY = "os_glance_upload_error"
Status = Image.Status


def _check_choice(field, value, allowed):
    if value is not None and value not in allowed:
        raise Invalid(f"Invalid value '{value}' for {field}: allowed values are "
                      f"{', '.join(allowed)}")


def store_get(name=None, *, writable=False):
    """The store `name` (default store when None), as an Invalid error naming the known stores.
    A reserved store (os_glance_*) is not a client's to name."""
    try:
        if name and reserved(name):
            raise UnknownStore(name, [store.name for store in client_stores()])
        store = get_store(name)
    except UnknownStore as exc:
        raise Invalid(str(exc)) from None
    if writable and store.read_only:
        raise Invalid(f"Store '{store.name}' is read-only; writable stores: "
                      f"{', '.join(s.name for s in client_stores() if not s.read_only)}")
    return store


def _set_status(image, *, expected, status, **fields):
    """Move `image` from one of the `expected` statuses to `status` atomically.

    Returns False when another request changed the status first: a compare-and-set in the
    database, so of two concurrent uploads exactly one wins.
    """
    now = timezone.now()
    updated = Image.objects.filter(pk=image.pk, status__in=expected).update(
        status=status, updated_at=now, **fields)
    if updated:
        image.status = status
        image.updated_at = now
        for key, value in fields.items():
            setattr(image, key, value)
    return bool(updated)


def image_upload(*, image, stream, store_name=None, expected_size=None):
    """Stream `stream` into a store once: size cap → md5 + sha512 → driver.

    On success the image is `active` with one location. On any failure the driver has
    removed its partial object, no location row exists, and the image is `queued` again.
    """
    store = store_get(store_name, writable=True)
    if not image.disk_format or not image.container_format:
        raise Invalid("Properties disk_format and container_format must be set prior to "
                      "saving data.")
    if expected_size is not None and expected_size > settings.IMAGE_SIZE_CAP:
        raise TooLarge(f"Image exceeds the size cap of {settings.IMAGE_SIZE_CAP} bytes")
    quota = DataQuota(image, resource="image_size_total", expected_size=expected_size)
    if not _set_status(image, expected=[Status.QUEUED], status=Status.SAVING):
        image.refresh_from_db()
        if image.deleted:
            raise NotFound(f"No image found with ID {image.id}")
        raise Conflict(f"Image status transition from {image.status} to saving is not allowed")
    try:
        written = data_write(image=image, store=store, stream=stream, purpose=Purpose.UPLOAD,
                             quota=quota, expected_size=expected_size)
    except BaseException as exc:
        _requeue(image)
        _note_upload_error(image, getattr(exc, "message", None) or str(exc) or
                           type(exc).__name__)
        raise
    size = written.size
    try:
        with transaction.atomic():
            fields = dict(size=size, checksum=written.md5,
                          os_hash_algo=image.os_hash_algo or HASH_ALGO,
                          os_hash_value=written.digest, virtual_size=written.virtual_size)
            quota.check_final(size)
            if not _set_status(image, expected=[Status.SAVING], status=Status.ACTIVE, **fields):
                raise Gone(f"Image {image.id} was deleted during the upload")
            ImageLocation.objects.create(image=image, value=written.uri,
                                         meta_data={"store": store.name})
            property_drop(image, UPLOAD_ERROR_PROPERTY)
            written_recorded(written)
    except BaseException:
        written_remove(store, written)  # first, and whether or not the database answers
        _requeue(image)
        raise
    logger.info("image %s: %d bytes saved in store %s", image.id, size, store.name)
    return image


# Seconds a failed upload waits between attempts to put its image back to `queued` while the
# database is out of reach (a restart, a failover): about 7 s in all, then the image is left
# `saving` for the scrubber's reset of stale uploads.
REQUEUE_RETRY_DELAYS = (0.5, 1, 2, 3.5)


def _requeue(image):
    """`saving` → `queued` after a failed upload, waiting a little for a database that went
    away rather than leaving the image `saving`."""
    for delay in (*REQUEUE_RETRY_DELAYS, None):
        try:
            return _set_status(image, expected=[Status.SAVING], status=Status.QUEUED,
                               size=None, virtual_size=None)
        except (OperationalError, InterfaceError):
            if delay is None or connection.in_atomic_block:
                raise
            logger.warning("image %s: database unavailable, retrying in %s s", image.id, delay)
            connection.close()  # a broken connection is not reused: the next query reconnects
            time.sleep(delay)


def _note_upload_error(image, message):
    property_set(image, UPLOAD_ERROR_PROPERTY, str(message)[:2000])


def _remove_quietly(store, uri):
    try:
        store.delete(uri)
    except StoreError:
        logger.exception("store %s: could not remove %s", store.name, uri)


def _locations_by_preference(image, prefer=()):
    """Live locations, the preferred stores first, then by store weight (highest first)."""
    locations = [loc for loc in image_locations(image) if loc.status == loc.Status.ACTIVE]
    prefer = list(prefer or ())

    def rank(location):
        try:
            weight = get_store(location.store).weight if location.store else 0
        except UnknownStore:
            weight = -1
        preferred = prefer.index(location.store) if location.store in prefer else len(prefer)
        return (preferred, -weight)

    return sorted(locations, key=rank)


def image_download(*, image, offset=0, length=None, prefer=()):
    """Open the image's data at the first location that answers.

    Returns (reader, location). NoData when the image has no data, StoreFailed when every
    location failed.
    """
    if image.status not in (Status.ACTIVE, Status.DEACTIVATED) or image.size is None:
        raise NoData("Image has no data")
    if prefer:
        known = {store.name for store in all_stores()}
        unknown = [name for name in prefer if name not in known]
        if unknown:
            raise Invalid(f"Unknown store(s) in prefer: {', '.join(unknown)}")
    errors = []
    for location in _locations_by_preference(image, prefer):
        try:
            store = store_for_uri(location.value, hint=location.store)
            return store.open(location.value, offset=offset, length=length), location
        except (StoreError, InvalidLocation) as exc:
            logger.warning("image %s: location %s failed: %s", image.id, location.id, exc)
            errors.append(f"{location.store or '?'}: {exc}")
    if not errors:
        raise NoData("Image has no data")
    raise StoreFailed("No location of the image could be read: " + "; ".join(errors))


def staging_store():
    """Where staged data goes: `settings.STAGING_STORE`, else the default store. A store, not
    a web node's disk, so any web process or worker can finish the import."""
    return get_store(getattr(settings, "STAGING_STORE", None) or settings.DEFAULT_STORE)


def staged_remove(image):
    """Remove data staged for the image, if any (and forget where it was)."""
    row = ImageProperty.objects.filter(image=image, name=STAGING_PROPERTY).first()
    if row is None:
        return
    store = staging_store()
    try:
        store.delete(row.value)
        journal_close_all(store=store.name, key=store.key_of(row.value),
                          outcome=StoreWrite.Outcome.REMOVED)
    except (StoreError, InvalidLocation):
        logger.exception("image %s: staged data not removed", image.id)
        return
    row.deleted, row.deleted_at = True, timezone.now()
    row.save(update_fields=["deleted", "deleted_at"])


def _location_remove(location, *, store=None):
    """Delete a location's data and mark its row deleted; a store that fails leaves the row
    `pending_delete` for the scrubber."""
    now = timezone.now()
    try:
        store = store or store_for_uri(location.value, hint=location.store)
        store.delete(location.value)
    except (StoreError, InvalidLocation) as exc:
        logger.warning("location %s: data not removed yet: %s", location.id, exc)
        location.status = ImageLocation.Status.PENDING_DELETE
        location.save(update_fields=["status"])
        return False
    location.status = ImageLocation.Status.DELETED
    location.deleted = True
    location.deleted_at = now
    location.save(update_fields=["status", "deleted", "deleted_at"])
    return True


def image_delete(*, image):
    """Delete the image and its data in every store; the row stays, marked deleted.

    With delayed delete (settings.DELAYED_DELETE) an active image with data becomes
    `pending_delete` instead, its locations too: the data stays until the scrubber removes
    it (images/services/scrubber.py), and an admin may restore the image until then. Any
    other image is deleted at once, as Glance does (Image.delete in glance/domain).
    """
    if image.protected:
        raise Forbidden(f"Image {image.id} is protected and cannot be deleted.")
    now = timezone.now()
    with transaction.atomic():
        live = Image.objects.filter(pk=image.pk, deleted=False).exclude(status=Status.DELETED)
        delayed = bool(settings.DELAYED_DELETE and ImageLocation.objects.filter(
            image_id=image.pk, status=ImageLocation.Status.ACTIVE).exists() and live.filter(
            status=Status.ACTIVE).update(status=Status.PENDING_DELETE, deleted=True,
                                         deleted_at=now, updated_at=now))
        if not delayed and not live.update(status=Status.DELETED, deleted=True, deleted_at=now,
                                           updated_at=now):
            raise NotFound(f"No image found with ID {image.id}")
        status = Status.PENDING_DELETE if delayed else Status.DELETED
        if delayed:
            # deleted_at = the image's: a restore revives exactly what this delete hid.
            ImageLocation.objects.filter(image_id=image.pk, status=ImageLocation.Status.ACTIVE
                                         ).update(status=ImageLocation.Status.PENDING_DELETE,
                                                  deleted=True, deleted_at=now, updated_at=now)
        ImageTag.objects.filter(image=image).update(deleted=True, deleted_at=now)
        ImageProperty.objects.filter(image=image).exclude(name=STAGING_PROPERTY).update(
            deleted=True, deleted_at=now)
        image.members.filter(deleted=False).update(deleted=True, deleted_at=now)
    image.status, image.deleted, image.deleted_at = status, True, now
    staged_remove(image)
    if not delayed:
        for location in image_locations(image):
            _location_remove(location)
    return image


def location_delete(*, image, store_name):
    """Remove the image's data from one store; the image keeps its other locations."""
    if store_name not in {store.name for store in all_stores()}:
        raise Conflict(f"Store '{store_name}' is not configured")
    if image.status != Status.ACTIVE:
        raise Conflict(f"Image {image.id} is {image.status}: only an active image's data can "
                       "be removed from a store")
    locations = [loc for loc in image_locations(image) if loc.status == loc.Status.ACTIVE]
    targets = [loc for loc in locations if loc.store == store_name]
    if not targets:
        raise NotFound(f"Image {image.id} has no data in store '{store_name}'")
    if len(targets) == len(locations):
        raise Forbidden(f"Store '{store_name}' holds the image's only copy: delete the image "
                        "instead")
    for location in targets:
        _location_remove(location)
    Image.objects.filter(pk=image.pk).update(updated_at=timezone.now())


def stores_health(*, fresh=False):
    """[(store, Health)] for every configured store, as last probed (None while another
    request probes it for the first time); with `fresh`, probed now and kept for the pages."""
    check = store_health.probe if fresh else store_health.last_health
    return [(store, check(store)) for store in all_stores()]



def copy_write(*, image, store, progress=None):
    """Copy the image's data into `store` from its best location: source → md5 + sha512 →
    store, once. Returns (Written, source location); bytes that do not hash to the image's
    checksums are removed and refused. The one copy flow: location_copy and copy-image."""
    source, source_location = image_download(image=image)
    with source:
        written = data_write(image=image, store=store, stream=source, purpose=Purpose.COPY,
                             inspect=False, progress=progress,
                             expect=(image.size, image.checksum, image.os_hash_value))
    return written, source_location


def location_copy(*, image, store_name):
    """Copy the image's data into another store and record the new location.

    The location is recorded only when the copied bytes hash to the image's checksums, and
    the image is still active; otherwise nothing is kept.
    """
    target = store_get(store_name, writable=True)
    if image.status != Status.ACTIVE:
        raise Conflict(f"Only an active image can be copied (image is {image.status})")
    if any(loc.store == target.name for loc in image_locations(image)):
        raise Invalid(f"Image {image.id} is already in store '{target.name}'")
    written, source_location = copy_write(image=image, store=target)
    try:
        with transaction.atomic():
            current = Image.objects.select_for_update().filter(pk=image.pk).first()
            if current is None or current.status != Status.ACTIVE:
                raise Conflict(f"Image {image.id} changed during the copy; nothing was kept")
            location = ImageLocation.objects.create(image=image, value=written.uri,
                                                    meta_data={"store": target.name})
            written_recorded(written)
    except BaseException:
        written_remove(target, written)
        raise
    logger.info("image %s: copied from %s to %s", image.id, source_location.store, target.name)
    return location
