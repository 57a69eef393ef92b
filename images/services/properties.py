"""Extra properties one at a time, as the services write them (Glance's rows are unique per
image and name, so a property set again revives its soft-deleted row)."""
from django.utils import timezone

from images.models import ImageProperty


def property_get(image, name):
    return ImageProperty.objects.filter(image=image, name=name).values_list(
        "value", flat=True).first()


def property_set(image, name, value):
    row = ImageProperty.all_objects.filter(image=image, name=name).first()
    if row is None:
        ImageProperty.objects.create(image=image, name=name, value=value)
    else:
        row.value, row.deleted, row.deleted_at = value, False, None
        row.save(update_fields=["value", "deleted", "deleted_at"])


def property_drop(image, name):
    """Soft-delete the property; returns how many rows that was (0 when it was not set)."""
    return ImageProperty.objects.filter(image=image, name=name).update(
        deleted=True, deleted_at=timezone.now(), updated_at=timezone.now())
