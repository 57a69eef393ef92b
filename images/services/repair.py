"""Acting on audit findings: re-copy a broken location from a healthy copy, drop a dead
location, delete an orphan object. Each re-checks the situation first: a finding may be
hours old."""
from django.db import transaction

from images.exceptions import Conflict, Forbidden, NotFound
from images.models import Image, ImageLocation
from images.services.audit import IN_FLIGHT, STAGING_PREFIX
from images.services.data import _location_remove, store_get
from images.services.imports import IMPORTING, image_import
from images.services.properties import property_get
from stores.exceptions import InvalidLocation


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


def orphan_delete(*, store_name, location, older_than=None, dry_run=False):
    """Delete an object no location references, after checking that this is still so.

    With `older_than` (a datetime), an object written since then is kept (Conflict): it may
    be a copy whose location row is about to be written. The checks and the removal run
    under a lock on the image's row, so an upload cannot start on that image in between.
    """
    store = store_get(store_name, writable=True)
    try:
        key = store.key_of(location)
    except InvalidLocation as exc:
        raise NotFound(str(exc)) from None
    image_id = key.removeprefix(STAGING_PREFIX)
    with transaction.atomic():
        image = Image.all_objects.select_for_update().filter(pk=image_id).first()
        if image is not None and image.status in IN_FLIGHT:
            raise Conflict("That object belongs to an upload or import in progress")
        if image is not None and property_get(image, IMPORTING):
            raise Conflict("That object may be a copy being written (copy-image in progress)")
        for value in (ImageLocation.all_objects.filter(status__in=[
                ImageLocation.Status.ACTIVE, ImageLocation.Status.PENDING_DELETE])
                .filter(value__endswith=key).values_list("value", flat=True)):
            if store.owns(value) and store.key_of(value) == key:
                raise Conflict("A location references that object now; it is not an orphan")
        uri = store.uri_for(key)
        if older_than is not None and store.modified(uri) > older_than:
            raise Conflict("Written recently; kept until it is older")
        if not dry_run:
            store.delete(uri)
