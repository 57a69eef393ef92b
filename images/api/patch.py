"""JSON-patch bodies of `PATCH /v2/images/ID` (image-api.md §4.1), turned into one update."""
from images.api.validation import WRITABLE_BASE, check_key, check_rights, check_value
from images.exceptions import Conflict, Forbidden, Invalid, ImageError

PATCH_TYPES = ("application/openstack-images-v2.1-json-patch",
               "application/openstack-images-v2.0-json-patch")
OPS = ("add", "replace", "remove")


class UnsupportedPatchType(ImageError):
    status, title = 415, "Unsupported Media Type"
    headers = {"Accept-Patch": ", ".join(PATCH_TYPES)}


def check_content_type(content_type):
    if (content_type or "").split(";")[0].strip() not in PATCH_TYPES:
        raise UnsupportedPatchType(f"Unsupported Content-Type {content_type!r}: use "
                                   f"{' or '.join(PATCH_TYPES)}")


def _normalize(op):
    """A v2.1 op, from either the v2.1 or the v2.0 (draft-4, {"replace": "/x"}) form."""
    if not isinstance(op, dict):
        raise Invalid("Each patch operation must be an object")
    if "op" in op:
        name, path = op["op"], op.get("path")
    else:
        names = [key for key in OPS if key in op]
        if len(names) != 1:
            raise Invalid("Operation objects must contain exactly one of add, replace, remove")
        name, path = names[0], op[names[0]]
    if name not in OPS:
        raise Invalid(f"Invalid operation: {name!r} (use add, replace or remove)")
    if not isinstance(path, str) or not path.startswith("/"):
        raise Invalid(f"Invalid JSON pointer: {path!r}")
    if name != "remove" and "value" not in op:
        raise Invalid(f"Operation '{name}' requires a 'value'")
    parts = path[1:].split("/")
    if parts[0] in ("locations",):
        raise Forbidden("Locations cannot be changed through the image; use the stores API "
                        "(copy-image import, DELETE /v2/stores/STORE/ID).")
    if len(parts) != 1 or not parts[0]:
        raise Invalid(f"Nested paths are not allowed: {path!r}")
    key = parts[0].replace("~1", "/").replace("~0", "~")
    return name, key, op.get("value")


def patch_to_update(body, image, caller, properties):
    """The keyword arguments of services.image_update for a patch body.

    `properties` is the image's current {name: value} of extra properties.
    """
    if not isinstance(body, list):
        raise Invalid("Unexpected body type. Expected list of operations.")
    changes, set_properties, remove, tags = {}, {}, [], None
    current = dict(properties)
    for op in body:
        name, key, value = _normalize(op)
        check_key(key)
        if key == "id":
            raise Forbidden("Attribute 'id' is read-only.")
        if key in WRITABLE_BASE:
            if name == "remove":
                raise Forbidden(f"Cannot remove the base property '{key}'.")
            check_value(key, value)
            check_rights(key, value, caller, image)
            if key == "tags":
                tags = value
            else:
                changes[key] = value
            continue
        if name == "remove":
            if key not in current:
                raise Conflict(f"Property {key} does not exist.")
            current.pop(key)
            set_properties.pop(key, None)
            remove.append(key)
            continue
        if name == "replace" and key not in current:
            raise Conflict(f"Property {key} does not exist.")
        check_value(key, value)
        current[key] = value
        set_properties[key] = value
        if key in remove:
            remove.remove(key)
    remove = [key for key in remove if key in properties]
    return {"changes": changes, "set_properties": set_properties,
            "remove_properties": remove, "tags": tags}
