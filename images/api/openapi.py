"""OpenAPI descriptions of the Image API for drf-spectacular (`/api/schema/`), built from the
same JSON schemas glanceclient reads at `/v2/schemas/*`."""
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

from images.api import schemas

ERROR = {"type": "object", "properties": {"error": {"type": "object", "properties": {
    "code": {"type": "integer"}, "title": {"type": "string"}, "message": {"type": "string"}}}}}


def _readable(schema):
    """A Glance schema as OpenAPI 3.1 (a JSON Schema dialect) without Glance's extra keys."""
    props = {name: {k: v for k, v in prop.items() if k != "is_base"}
             for name, prop in schema["properties"].items()}
    return {"type": "object", "properties": props,
            "additionalProperties": schema.get("additionalProperties", True)}


def _writable(schema):
    readable = _readable(schema)
    props = {name: prop for name, prop in readable["properties"].items()
             if not prop.get("readOnly") and name != "locations"}
    return {**readable, "properties": props}


IMAGE = _readable(schemas.image_schema())
IMAGE_CREATE = _writable(schemas.image_schema())
IMAGES = {"type": "object", "properties": {"images": {"type": "array", "items": IMAGE},
                                           "first": {"type": "string"},
                                           "next": {"type": "string"},
                                           "schema": {"type": "string"}}}
MEMBER = _readable(schemas.member_schema())
MEMBERS = {"type": "object", "properties": {"members": {"type": "array", "items": MEMBER}}}
TASK = _readable(schemas.task_schema())
TASKS = {"type": "object", "properties": {"tasks": {"type": "array", "items": TASK}}}
PATCH = {"type": "array", "items": {"type": "object", "required": ["op", "path"], "properties": {
    "op": {"type": "string", "enum": ["add", "replace", "remove"]},
    "path": {"type": "string"}, "value": {}}}}
IMPORT = {"type": "object", "required": ["method"], "properties": {
    "method": {"type": "object", "required": ["name"], "properties": {
        "name": {"type": "string", "enum": ["glance-direct", "web-download", "copy-image"]},
        "uri": {"type": "string"}}},
    "stores": {"type": "array", "items": {"type": "string"}},
    "all_stores": {"type": "boolean"}, "all_stores_must_succeed": {"type": "boolean"}}}
BINARY = {"application/octet-stream": {"type": "string", "format": "binary"}}
ANY_OBJECT = {"type": "object"}
STORES = {"type": "object", "properties": {"stores": {"type": "array", "items": {
    "type": "object", "properties": {"id": {"type": "string"},
                                     "description": {"type": "string"},
                                     "default": {"type": "string"},
                                     "read-only": {"type": "string"}}}}}}


def errors(*codes):
    return {code: OpenApiResponse(ERROR) for code in codes}


LIST_PARAMETERS = [
    OpenApiParameter("limit", int, description="page size (default 25, at most 1000)"),
    OpenApiParameter("marker", str, description="id of the last image of the previous page"),
    OpenApiParameter("sort_key", str, many=True, enum=["name", "status", "container_format",
                                                       "disk_format", "size", "id",
                                                       "created_at", "updated_at"]),
    OpenApiParameter("sort_dir", str, many=True, enum=["asc", "desc"]),
    OpenApiParameter("sort", str, description="key:dir,key:dir"),
    OpenApiParameter("name", str), OpenApiParameter("status", str),
    OpenApiParameter("visibility", str, enum=["public", "private", "shared", "community",
                                              "all"]),
    OpenApiParameter("member_status", str, enum=["pending", "accepted", "rejected", "all"]),
    OpenApiParameter("owner", str), OpenApiParameter("tag", str, many=True),
    OpenApiParameter("size_min", int), OpenApiParameter("size_max", int),
    OpenApiParameter("disk_format", str), OpenApiParameter("container_format", str),
    OpenApiParameter("protected", str, enum=["true", "false"]),
    OpenApiParameter("os_hidden", str, enum=["true", "false"]),
    OpenApiParameter("created_at", str), OpenApiParameter("updated_at", str),
]


class TokenAuthScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.TokenHeaderAuthentication"
    name = "token"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "X-Auth-Token"}


class KeystoneTokenAuthScheme(TokenAuthScheme):
    # The same header: a Keystone token, when the portal takes Keystone's.
    target_class = "accounts.authentication.KeystoneAuthentication"
    name = "keystoneToken"


class SessionAuthScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.LocalSessionAuthentication"
    name = "session"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}
