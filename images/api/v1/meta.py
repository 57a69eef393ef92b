"""Image API v1 metadata: `x-image-meta-*` request headers in; the v1 image dict and its
headers out."""
from datetime import timezone
from urllib.parse import quote, unquote

from images.api.validation import check_key
from images.exceptions import Invalid
from images.representation import BASE_FIELDS, image_view

META_PREFIX = "HTTP_X_IMAGE_META_"
PROPERTY_PREFIX = META_PREFIX + "PROPERTY_"
# The x-image-meta-* headers Glance v1 accepted (glance/common/utils.py, IMAGE_META_HEADERS);
# any other is a "Bad header".
KNOWN_FIELDS = {"id", "name", "disk_format", "container_format", "size", "virtual_size",
                "checksum", "is_public", "protected", "min_ram", "min_disk", "owner", "store",
                "location", "copy_from", "uri", "status", "created_at", "updated_at",
                "deleted_at", "deleted"}
# Everything in a v2 view that is not an extra property.
V2_KEYS = {*BASE_FIELDS, "created_at", "updated_at", "tags", "self", "file", "schema",
           "stores", "locations"}
# Names a property cannot take: they would hide, or be hidden by, a field.
NOT_PROPERTIES = V2_KEYS | {"is_public", "deleted", "deleted_at", "properties"}
TRUE = {"1", "t", "true", "on", "y", "yes"}
FALSE = {"0", "f", "false", "off", "n", "no"}


def _decode(text):
    # glanceclient percent-encodes header names and values (bug 1766235); other clients may
    # send raw UTF-8, which WSGI hands over as latin-1.
    try:
        text = text.encode("latin-1").decode("utf-8")
    except UnicodeError:
        pass
    return unquote(text)


def request_meta(request):
    """(fields, properties) from the request's `x-image-meta-*` headers.

    Names are read as Glance v1 read them: lower case, `-` and `_` alike (WSGI maps both
    to `_`). Invalid for a header Glance v1 did not know.
    """
    fields, properties = {}, {}
    for key, value in request.META.items():
        if key.startswith(PROPERTY_PREFIX):
            properties[_decode(key[len(PROPERTY_PREFIX):].lower())] = _decode(value)
        elif key.startswith(META_PREFIX):
            name = key[len(META_PREFIX):].lower()
            if name not in KNOWN_FIELDS:
                raise Invalid(f"Bad header: x-image-meta-{name}")
            fields[name] = _decode(value)
    for name in properties:
        check_key(name)  # read-only and reserved names (os_glance_*), refused as v2 does
        if name in NOT_PROPERTIES:
            raise Invalid(f"x-image-meta-property-{name}: '{name}' is an image attribute, "
                          "not a property")
    return fields, properties


def parse_bool(fields, name):
    """True, False, or None when absent or "None" (glanceclient sends `is_public: None`
    when --is-public is not given)."""
    value = fields.get(name)
    if value is None or value.strip().lower() in ("", "none"):
        return None
    if value.strip().lower() in TRUE:
        return True
    if value.strip().lower() in FALSE:
        return False
    raise Invalid(f"x-image-meta-{name} must be True or False, not '{value}'")


def parse_int(fields, name):
    """A non-negative integer, or None when absent."""
    value = fields.get(name)
    if value is None or value.strip() == "":
        return None
    if not value.strip().isdigit():
        raise Invalid(f"x-image-meta-{name} must be a non-negative integer, not '{value}'")
    return int(value)


def parse_checksum(fields):
    value = fields.get("checksum")
    if value is None or value.strip() == "":
        return None
    value = value.strip().lower()
    if len(value) != 32 or any(c not in "0123456789abcdef" for c in value):
        raise Invalid(f"x-image-meta-checksum must be an md5 hex digest, not '{value}'")
    return value


def timestamp(value):
    """v1's form: 2016-07-09T03:07:09.000000 (UTC, no zone)."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%f")


def image_v1(image, *, properties=None):
    """The v1 dict of `image`: the seed story's table rows plus `properties`.

    Built from the v2 view; shared and community images show as `is_public` False.
    """
    # v1 shows neither tags nor locations: spare image_view their queries.
    view = image_view(image, properties=properties, tags=(), locations=())
    return {
        "id": view["id"],
        "name": view["name"],
        "disk_format": view["disk_format"],
        "container_format": view["container_format"],
        "size": view["size"],
        "virtual_size": view["virtual_size"],
        "checksum": view["checksum"],
        "status": view["status"],
        "is_public": view["visibility"] == "public",
        "protected": view["protected"],
        "min_ram": view["min_ram"],
        "min_disk": view["min_disk"],
        "owner": view["owner"],
        "created_at": timestamp(image.created_at),
        "updated_at": timestamp(image.updated_at or image.created_at),
        "deleted_at": timestamp(image.deleted_at),
        "deleted": image.deleted,
        "properties": {k: v for k, v in view.items() if k not in V2_KEYS},
    }


def _header_value(value):
    text = str(value).replace("\r", "%0D").replace("\n", "%0A")
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        # Raw UTF-8, as Glance v1 sent it (WSGI takes header strings as latin-1).
        return text.encode("utf-8").decode("latin-1")
    # Python clients (http.client, hence glanceclient) read header bytes as latin-1.
    return text


def meta_headers(v1):
    """The `x-image-meta-*` headers of a v1 dict; like Glance v1, None values are left out."""
    headers = {}
    for key, value in v1.items():
        if key == "properties":
            for name, prop in value.items():
                headers[f"x-image-meta-property-{quote(name)}"] = _header_value(prop)
        elif value is not None:
            headers[f"x-image-meta-{key}"] = _header_value(value)
    return headers
