"""Acting on audit findings: re-copy a broken location from a healthy copy, drop a dead
location, remove a leftover, or (confirmed by an admin) a foreign object. Each re-checks
the situation first: a finding may be hours old."""
from django.db import transaction

from images.exceptions import Conflict, Forbidden, Invalid, NotFound
from images.models import Image, ImageLocation, StoreWrite
from images.services.audit import IN_FLIGHT, STAGING_PREFIX, images_writing, key_referenced
from images.services.data import _location_remove, store_get
from images.services.imports import IMPORTING, image_import
from images.services.properties import property_get
from images.services.writes import CLOCK_SKEW, journal_close_all, journal_owned
from stores.exceptions import InvalidLocation, ObjectNotFound


def _other_copies(location):
    return (ImageLocation.objects.filter(image_id=location.image_id,
                                         status=ImageLocation.Status.ACTIVE)
            .exclude(pk=location.pk))


def location_forget(*, location):
    """Drop a location whose data is gone or broken (its object too, if any is left).

    Refused for the image's only copy: that is for the image's owner to decide.
    """
    if location.deleted or location.status != ImageLocation.Status.ACTIVE:
        raise NotFound("That location is already gone")
    if not _other_copies(location).exists():
        raise Forbidden("This is the image's only copy; delete or re-upload the image instead")
    _location_remove(location)


def location_recopy(*, location, caller):
    """Replace a broken copy with a fresh one from a healthy copy, verified by checksum.

    Returns the import task that makes the new copy; the broken copy is dropped first so
    the copy cannot be read from it.
    """
    if not _other_copies(location).exists():
        raise Forbidden("There is no other copy to re-copy from")
    store = location.store
    image = Image.objects.get(pk=location.image_id)
    with transaction.atomic():
        location_forget(location=location)
        return image_import(image=image, caller=caller, body={
            "method": {"name": "copy-image"}, "stores": [store],
            "all_stores_must_succeed": False})


IN_USE = "A database references that object now; it is in use"
NOT_OURS = ("That object is older than this portal's write of it: someone else wrote it, "
            "and it is left as it is")


def _in_use(store, key):
    """Why `key` is not, right now, an object nothing uses (no database references it, no
    upload or copy is writing it); None when it is not in use. Call it in the transaction
    that is to remove the object: it locks the image's row."""
    image_id = key.removeprefix(STAGING_PREFIX)
    image = Image.all_objects.select_for_update().filter(pk=image_id).first()
    if image is not None and image.status in IN_FLIGHT or images_writing({image_id}):
        return "That object belongs to an upload or import in progress"
    if image is not None and property_get(image, IMPORTING):
        return "That object may be a copy being written (copy-image in progress)"
    if key_referenced(store, key):
        return IN_USE
    return None


def _store_key(store_name, location):
    store = store_get(store_name, writable=True)
    try:
        return store, store.key_of(location)
    except InvalidLocation as exc:
        raise NotFound(str(exc)) from None


def leftover_delete(*, store_name, location, older_than=None, dry_run=False):
    """Remove a leftover: an object (and its segments) that the write journal shows this
    portal wrote and that nothing references, after checking that this is still so.

    Refused (Conflict) for an object the journal does not know (foreign: see foreign_delete),
    one older than the write the journal records (not ours either), and, with `older_than`
    (a datetime), one written since then: it may be a copy whose location row is about to
    be written. The checks and the removal run under a lock on the image's row, so an
    upload cannot start on that image in between.
    """
    store, key = _store_key(store_name, location)
    with transaction.atomic():
        reason = _in_use(store, key)
        if reason == IN_USE:  # its location was written after the row: that write is done
            journal_close_all(store=store.name, key=key, outcome=StoreWrite.Outcome.RECORDED)
        elif reason is None:
            reason = _leftover_remove(store, key, older_than=older_than, dry_run=dry_run)
            if reason == NOT_OURS and not dry_run:  # the rows prove nothing: close them
                journal_close_all(store=store.name, key=key,
                                  outcome=StoreWrite.Outcome.REFUSED)
    if reason:
        raise Conflict(reason)


def _leftover_remove(store, key, *, older_than, dry_run):
    """Remove the leftover `key`; Conflict when it is too recent or not journaled, NOT_OURS
    (nothing removed) when the object predates the write the journal records."""
    rows = list(StoreWrite.objects.filter(store=store.name, key=key)
                .exclude(outcome=StoreWrite.Outcome.REFUSED).order_by("started_at", "id"))
    if not rows:
        raise Conflict("This portal did not write that object: it is foreign, and is "
                       "removed only by an admin who confirms it")
    newest = rows[-1]
    if older_than is not None and (newest.touched_at or newest.started_at) > older_than:
        raise Conflict("Written recently; kept until it is older")
    try:
        modified = store.modified(store.uri_for(key))
    except ObjectNotFound:
        modified = None  # segments only, or nothing left but the journal row
    if modified is not None and older_than is not None and modified > older_than:
        raise Conflict("Written recently; kept until it is older")
    if modified is not None and modified < newest.started_at - CLOCK_SKEW:
        return NOT_OURS
    if not dry_run:
        store.delete_partial(key)
        journal_close_all(store=store.name, key=key, outcome=StoreWrite.Outcome.REMOVED)
    return None


def foreign_delete(*, store_name, location, size):
    """Remove an object this portal did not write, as an admin confirmed it by name and size.

    Checked again now: no database (the portal's, the Glance database when configured)
    references it, the journal does not know it (a leftover goes through leftover_delete),
    no upload is writing it, and its size is still `size`. Anything else is a Conflict and
    nothing is removed.
    """
    store, key = _store_key(store_name, location)
    try:
        size = int(size)
    except (TypeError, ValueError):
        raise Invalid("The object's size, as confirmed, is required") from None
    with transaction.atomic():
        reason = _in_use(store, key)
        if reason:
            raise Conflict(reason)
        if journal_owned(store=store.name, keys=[key]):
            raise Conflict("This portal wrote that object: it is a leftover, not foreign")
        uri = store.uri_for(key)
        try:
            current = store.size(uri)
        except ObjectNotFound:
            raise NotFound("That object is no longer in the store") from None
        if current != size:
            raise Conflict(f"That object is now {current} bytes, not the {size} confirmed; "
                           "nothing was removed")
        store.delete(uri)
