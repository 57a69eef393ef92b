"""An image as the Image API v2 shows it; the API, the portal and the commands share it."""
from typing import NamedTuple

from images.models import Image, ImageLocation
from images.selectors import image_locations, image_store_names
from stores.locations import redact

BASE_FIELDS = ("id", "name", "status", "visibility", "protected", "os_hidden", "checksum",
               "os_hash_algo", "os_hash_value", "owner", "size", "virtual_size", "min_ram",
               "min_disk", "disk_format", "container_format")
# What image_view reads of an image.
VIEW_FIELDS = (*BASE_FIELDS, "created_at", "updated_at")
# Stored by the server, never shown (Glance hides them too).
HIDDEN_PROPERTIES = {"os_glance_stage_host", "os_glance_hash_op_host", "os_glance_staging_uri",
                     "os_glance_upload_error"}


class PropertyRow(NamedTuple):
    """A property as image_view reads it, without a model instance."""

    name: str
    value: str | None


class TagRow(NamedTuple):
    value: str


class LocationRow(NamedTuple):
    """A location as image_view and image_store_names read it, without a model instance."""

    value: str
    meta_data: dict | None
    status: str

    Status = ImageLocation.Status

    @property
    def store(self):
        return (self.meta_data or {}).get("store", "")


def timestamp(value):
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def image_view(image: Image, *, show_locations=False, properties=None, tags=None,
               locations=None):
    """The Image API v2 dict of `image`.

    `properties`, `tags` and `locations` may be passed pre-fetched (lists) to spare queries.
    Locations are shown only when `show_locations` (admins): they reveal where data lives.
    """
    view = {field: getattr(image, field) for field in BASE_FIELDS}
    view["created_at"] = timestamp(image.created_at)
    view["updated_at"] = timestamp(image.updated_at or image.created_at)
    if properties is None:
        properties = image.properties.filter(deleted=False)
    for prop in properties:
        if prop.name not in HIDDEN_PROPERTIES and prop.name not in view:
            view[prop.name] = prop.value if prop.value is not None else ""
    if tags is None:
        tags = image.tags.filter(deleted=False)
    view["tags"] = sorted({tag.value for tag in tags})
    view["self"] = f"/v2/images/{image.id}"
    view["file"] = f"/v2/images/{image.id}/file"
    view["schema"] = "/v2/schemas/image"
    if locations is None:
        locations = image_locations(image)
    stores = image_store_names(image, locations=locations)
    if stores:
        view["stores"] = ",".join(stores)
    if show_locations:
        view["locations"] = [
            {"url": redact(loc.value), "metadata": loc.meta_data or {}}
            for loc in locations if loc.status == loc.Status.ACTIVE
        ]
    return view
