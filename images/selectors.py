"""Read-only queries over images."""
import uuid

from images.exceptions import NotFound
from images.models import Image


def is_uuid(value):
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return len(str(value)) == 36


def image_get(image_id, *, queryset=None):
    """The live image with that id; NotFound for a deleted, missing or non-UUID id."""
    if not is_uuid(image_id):
        raise NotFound(f"No image found with ID {image_id}")
    queryset = Image.objects.all() if queryset is None else queryset
    try:
        return queryset.get(pk=str(image_id).lower())
    except Image.DoesNotExist:
        raise NotFound(f"No image found with ID {image_id}") from None


def image_locations(image):
    """The image's live locations, in the order they were added (Glance's `stores` order)."""
    return list(image.locations.filter(deleted=False).order_by("id"))


def image_store_names(image, *, locations=None):
    locations = image_locations(image) if locations is None else locations
    names = []
    for location in locations:
        if location.status == location.Status.ACTIVE and location.store and \
                location.store not in names:
            names.append(location.store)
    return names
