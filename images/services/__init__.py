"""The flows on images: one function each, shared by the API, the portal, the admin,
the management commands and the worker."""
from images.services.data import (image_delete, image_download, image_upload,
                                  location_copy, location_delete, store_get, stores_health)
from images.services.records import (image_create, image_deactivate,
                                     image_reactivate, image_update, member_create,
                                     member_delete, member_update, tag_add, tag_remove)

__all__ = [
    "image_create", "image_deactivate", "image_delete", "image_download", "image_reactivate",
    "image_update", "image_upload", "location_copy", "location_delete", "member_create",
    "member_delete", "member_update", "store_get", "stores_health", "tag_add", "tag_remove",
]
