"""JSON schemas of the metadata definitions, served at /v2/schemas/metadefs/<name> and used to
check request bodies, shaped as Glance's (glance/api/v2/metadef_*.py get_schema)."""
import jsonschema

from images.exceptions import Invalid

TYPES = ["array", "boolean", "integer", "number", "object", "string", None]
TIMESTAMP = {"type": "string", "readOnly": True, "format": "date-time"}
READ_ONLY = {"type": "string", "readOnly": True}


def _definitions():
    string_array = {"type": "array", "items": {"type": "string"}, "uniqueItems": True}
    positive = {"type": "integer", "minimum": 0}
    positive_default_0 = {"allOf": [{"$ref": "#/definitions/positiveInteger"},
                                    {"default": 0}]}
    return {
        "positiveInteger": positive,
        "positiveIntegerDefault0": positive_default_0,
        "stringArray": string_array,
        "property": {"type": "object", "additionalProperties": _property_definition()},
    }


def _property_fields():
    """What a property definition may say (a JSON-schema subset, Glance's PropertyType)."""
    return {
        "title": {"type": "string"},
        "description": {"type": "string"},
        "operators": {"type": "array", "items": {"type": "string"}},
        "type": {"type": "string", "enum": TYPES},
        "required": {"$ref": "#/definitions/stringArray"},
        "minimum": {"type": "number"},
        "maximum": {"type": "number"},
        "maxLength": {"$ref": "#/definitions/positiveInteger"},
        "minLength": {"$ref": "#/definitions/positiveIntegerDefault0"},
        "pattern": {"type": "string", "format": "regex"},
        "enum": {"type": "array"},
        "readonly": {"type": "boolean"},
        "default": {},
        "items": {"type": "object", "properties": {
            "type": {"type": "string", "enum": TYPES}, "enum": {"type": "array"}}},
        "maxItems": {"$ref": "#/definitions/positiveInteger"},
        "minItems": {"$ref": "#/definitions/positiveIntegerDefault0"},
        "uniqueItems": {"type": "boolean", "default": False},
        "additionalItems": {"type": "boolean"},
    }


def _property_definition():
    return {"type": "object", "required": ["title", "type"],
            "properties": {"name": {"type": "string", "maxLength": 80}, **_property_fields()}}


def _association_fields():
    return {"name": {"type": "string", "maxLength": 80,
                     "description": "Resource type names should be aligned with Heat "
                                    "resource types whenever possible"},
            "prefix": {"type": "string", "maxLength": 80,
                       "description": "Specifies the prefix to use for the given resource "
                                      "type. Any properties in the namespace should be "
                                      "prefixed with this prefix when being applied to the "
                                      "specified resource type."},
            "properties_target": {"type": "string", "maxLength": 80,
                                  "description": "Some resource types allow more than one "
                                                 "key / value pair per instance."},
            "created_at": TIMESTAMP, "updated_at": TIMESTAMP}


def _object_fields():
    return {"name": {"type": "string", "maxLength": 80},
            "description": {"type": "string"},
            "required": {"$ref": "#/definitions/stringArray"},
            "properties": {"$ref": "#/definitions/property"},
            "schema": READ_ONLY, "self": READ_ONLY,
            "created_at": TIMESTAMP, "updated_at": TIMESTAMP}


def _links(*rels):
    hrefs = {"self": "{self}", "describedby": "{schema}", "first": "{first}",
             "next": "{next}"}
    return [{"rel": rel, "href": hrefs[rel]} for rel in rels]


def namespace_schema():
    association = {"type": "object", "properties": {
        name: field for name, field in _association_fields().items()
        if name in ("name", "prefix", "properties_target")}}
    objects = {"type": "object", "properties": {
        name: field for name, field in _object_fields().items()
        if name in ("name", "description", "required", "properties")}}
    return {
        "name": "namespace",
        "properties": {
            "namespace": {"type": "string", "maxLength": 80,
                          "description": "The unique namespace text."},
            "display_name": {"type": "string", "maxLength": 80,
                             "description": "The user friendly name for the namespace. "
                                            "Used by UI if available."},
            "description": {"type": "string", "maxLength": 500,
                            "description": "Provides a user friendly description of the "
                                           "namespace."},
            "visibility": {"type": "string", "enum": ["public", "private"],
                           "description": "Scope of namespace accessibility."},
            "protected": {"type": "boolean",
                          "description": "If true, namespace will not be deletable."},
            "owner": {"type": "string", "maxLength": 255,
                      "description": "Owner of the namespace."},
            "created_at": TIMESTAMP, "updated_at": TIMESTAMP,
            "schema": READ_ONLY, "self": READ_ONLY,
            "resource_type_associations": {"type": "array", "items": association},
            "properties": {"$ref": "#/definitions/property"},
            "objects": {"type": "array", "items": objects},
            "tags": {"type": "array", "items": {"type": "object", "properties": {
                "name": {"type": "string"}}}},
        },
        "additionalProperties": False,
        "required": ["namespace"],
        "definitions": _definitions(),
        "links": _links("self", "describedby"),
    }


def object_schema():
    return {"name": "object", "properties": _object_fields(), "additionalProperties": False,
            "required": ["name"], "definitions": _definitions(),
            "links": _links("self", "describedby")}


def property_schema():
    return {"name": "property",
            "properties": {"name": {"type": "string", "maxLength": 255}, **_property_fields()},
            "additionalProperties": False, "required": ["name", "title", "type"],
            "definitions": _definitions(), "links": _links("self", "describedby")}


def tag_schema():
    return {"name": "tag",
            "properties": {"name": {"type": "string", "maxLength": 80},
                           "created_at": TIMESTAMP, "updated_at": TIMESTAMP},
            "additionalProperties": False, "required": ["name"],
            "links": _links("self", "describedby")}


def resource_type_schema():
    return {"name": "resource_type_association", "properties": _association_fields(),
            "additionalProperties": False, "required": ["name"],
            "links": _links("self", "describedby")}


def _collection(name, item, *, key=None):
    return {"name": name,
            "properties": {key or name: {"type": "array", "items": item},
                           "first": {"type": "string"}, "next": {"type": "string"},
                           "schema": {"type": "string"}},
            "links": _links("first", "next", "describedby")}


def namespaces_schema():
    return {**_collection("namespaces", namespace_schema()),
            "definitions": _definitions()}


def objects_schema():
    return {**_collection("objects", object_schema()), "definitions": _definitions()}


def properties_schema():
    return {"name": "properties",
            "properties": {"properties": {"$ref": "#/definitions/property"},
                           "first": {"type": "string"}, "next": {"type": "string"},
                           "schema": {"type": "string"}},
            "definitions": _definitions(),
            "links": _links("first", "next", "describedby")}


def tags_schema():
    return _collection("tags", tag_schema())


def resource_types_schema():
    return _collection("resource_type_associations", resource_type_schema())


SCHEMAS = {
    "metadefs/namespace": namespace_schema, "metadefs/namespaces": namespaces_schema,
    "metadefs/object": object_schema, "metadefs/objects": objects_schema,
    "metadefs/property": property_schema, "metadefs/properties": properties_schema,
    "metadefs/tag": tag_schema, "metadefs/tags": tags_schema,
    "metadefs/resource_type": resource_type_schema,
    "metadefs/resource_types": resource_types_schema,
}


def validate(body, schema):
    """400 unless `body` is a JSON object valid against `schema` (one of the above)."""
    if not isinstance(body, dict):
        raise Invalid("Unexpected body type. Expected dict.")
    try:
        jsonschema.validate(body, schema)
    except jsonschema.ValidationError as error:
        where = "/".join(str(part) for part in error.absolute_path)
        raise Invalid(f"{error.message}" + (f" (at {where})" if where else "")) from None
