"""Checks of request bodies against the image schema, as Glance's JSON-schema does them."""
from images import policy
from images.exceptions import Forbidden, Invalid
from images.models import CONTAINER_FORMATS, DISK_FORMATS, Image
from images.selectors import is_uuid

READ_ONLY = {"created_at", "updated_at", "status", "checksum", "os_hash_algo", "os_hash_value",
             "size", "virtual_size", "direct_url", "self", "file", "schema", "stores"}
RESERVED = {"location", "locations", "deleted", "deleted_at"}
WRITABLE_BASE = {"name", "visibility", "protected", "os_hidden", "owner", "min_ram", "min_disk",
                 "disk_format", "container_format", "tags"}
CREATE_ONLY = {"id"}


def check_key(key):
    if key in READ_ONLY:
        raise Forbidden(f"Attribute '{key}' is read-only.")
    if key in RESERVED or key.startswith("os_glance"):
        raise Forbidden(f"Attribute '{key}' is reserved.")
    if len(key) > 255:
        raise Invalid(f"Property name is longer than 255 characters: {key[:40]}...")


def check_value(key, value):
    """Raise Invalid when `value` does not fit the schema of `key`."""
    def fail(expected):
        raise Invalid(f"Provided object does not match schema 'image': {value!r} is not "
                      f"valid for '{key}' ({expected})")

    if key == "name":
        if value is not None and (not isinstance(value, str) or len(value) > 255):
            fail("a string of at most 255 characters, or null")
    elif key in ("protected", "os_hidden"):
        if not isinstance(value, bool):
            fail("true or false")
    elif key in ("min_ram", "min_disk"):
        # The columns are 32-bit INTEGERs, as in Glance's schema.
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**31:
            fail("a non-negative integer below 2^31")
    elif key == "visibility":
        if value not in Image.Visibility.values:
            fail(f"one of {', '.join(Image.Visibility.values)}")
    elif key == "disk_format":
        if value is not None and value not in DISK_FORMATS:
            fail(f"one of {', '.join(DISK_FORMATS)}")
    elif key == "container_format":
        if value is not None and value not in CONTAINER_FORMATS:
            fail(f"one of {', '.join(CONTAINER_FORMATS)}")
    elif key == "owner":
        if value is not None and (not isinstance(value, str) or len(value) > 255):
            fail("a string of at most 255 characters")
    elif key == "tags":
        if not isinstance(value, list) or not all(
                isinstance(t, str) and len(t) <= 255 for t in value):
            fail("an array of strings of at most 255 characters")
    elif key == "id":
        if not isinstance(value, str) or not is_uuid(value):
            fail("a UUID")
    elif not isinstance(value, str):
        fail("extra properties are strings")


def check_rights(key, value, caller, image=None):
    if key == "visibility" and value == Image.Visibility.PUBLIC and \
            (image is None or image.visibility != value) and \
            not policy.allowed(caller, "publicize_image", _target(caller, image)):
        raise Forbidden("You are not authorized to publicize images (admin only).")
    if key == "visibility" and value == Image.Visibility.COMMUNITY and \
            (image is None or image.visibility != value):
        policy.authorize(caller, "communitize_image", _target(caller, image))
    if key == "owner" and not caller.admin and value != (image.owner if image else caller.project):
        raise Forbidden("Only an admin may set the owner of an image.")


def _target(caller, image):
    return policy.image_target(image) if image is not None else {}


def image_create_arguments(body, caller):
    """The keyword arguments of services.image_create for a POST /v2/images body."""
    if not isinstance(body, dict):
        raise Invalid("Unexpected body type. Expected dict.")
    kwargs, properties = {}, {}
    for key, value in body.items():
        check_key(key)
        check_value(key, value)
        check_rights(key, value, caller)
        if key in WRITABLE_BASE or key in CREATE_ONLY:
            kwargs[key] = value
        else:
            properties[key] = value
    kwargs.setdefault("owner", caller.project)
    kwargs["properties"] = properties
    kwargs["tags"] = kwargs.get("tags", [])
    return kwargs
