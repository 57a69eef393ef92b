"""Glance's JSON schemas (`/v2/schemas/*`): glanceclient builds its CLI options and validates
every body it sends and receives against them."""
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from drf_spectacular.utils import extend_schema



from images.api.common import ApiView
from images.models import CONTAINER_FORMATS, DISK_FORMATS, Image, ImageMember

UUID_PATTERN = ("^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}"
                "-([0-9a-fA-F]){12}$")


def _string(description, *, nullable=False, read_only=False, max_length=None, **extra):
    schema = {"type": ["null", "string"] if nullable else "string", "description": description}
    if read_only:
        schema["readOnly"] = True
    if max_length:
        schema["maxLength"] = max_length
    schema.update(extra)
    return schema


def image_schema():
    properties = {
        "id": _string("An identifier for the image", pattern=UUID_PATTERN),
        "name": _string("Descriptive name for the image", nullable=True, max_length=255),
        "status": _string("Status of the image", read_only=True,
                          enum=list(Image.Status.values)),
        "visibility": _string("Scope of image accessibility",
                              enum=["community", "public", "private", "shared"]),
        "protected": {"type": "boolean",
                      "description": "If true, image will not be deletable."},
        "os_hidden": {"type": "boolean",
                      "description": "If true, image will not appear in default image list "
                                     "response."},
        "checksum": _string("md5 hash of image contents.", nullable=True, read_only=True,
                            max_length=32),
        "os_hash_algo": _string("Algorithm to calculate the os_hash_value", nullable=True,
                                read_only=True, max_length=64),
        "os_hash_value": _string("Hexdigest of the image contents using the algorithm "
                                 "specified by the os_hash_algo", nullable=True,
                                 read_only=True, max_length=128),
        "owner": _string("Owner of the image", nullable=True, max_length=255),
        "size": {"type": ["null", "integer"], "readOnly": True,
                 "description": "Size of image file in bytes"},
        "virtual_size": {"type": ["null", "integer"], "readOnly": True,
                         "description": "Virtual size of image in bytes"},
        "container_format": {"type": ["null", "string"], "enum": [None, *CONTAINER_FORMATS],
                             "description": "Format of the container"},
        "disk_format": {"type": ["null", "string"], "enum": [None, *DISK_FORMATS],
                        "description": "Format of the disk"},
        "created_at": _string("Date and time of image registration", read_only=True),
        "updated_at": _string("Date and time of the last image modification", read_only=True),
        "tags": {"type": "array", "description": "List of strings related to the image",
                 "items": {"type": "string", "maxLength": 255}},
        "direct_url": _string("URL to access the image file kept in external store",
                              read_only=True),
        "min_ram": {"type": "integer",
                    "description": "Amount of ram (in MB) required to boot image."},
        "min_disk": {"type": "integer",
                     "description": "Amount of disk space (in GB) required to boot image."},
        "self": _string("An image self url", read_only=True),
        "file": _string("An image file url", read_only=True),
        "stores": _string("Store in which image data resides.  Only present when the "
                          "operator has enabled multiple stores.  May be a comma-separated "
                          "list of store identifiers.", read_only=True),
        "schema": _string("An image schema url", read_only=True),
        "locations": {
            "type": "array", "description": "A set of URLs to access the image file kept in "
                                            "external store",
            "items": {"type": "object", "required": ["url", "metadata"], "properties": {
                "url": {"type": "string", "maxLength": 255},
                "metadata": {"type": "object"}}}},
        "kernel_id": {"type": ["null", "string"], "pattern": UUID_PATTERN, "is_base": False,
                      "description": "ID of image stored in Glance that should be used as the "
                                     "kernel when booting an AMI-style image."},
        "ramdisk_id": {"type": ["null", "string"], "pattern": UUID_PATTERN, "is_base": False,
                       "description": "ID of image stored in Glance that should be used as "
                                      "the ramdisk when booting an AMI-style image."},
        "instance_uuid": {"type": "string", "is_base": False,
                          "description": "Metadata which can be used to record which instance "
                                         "this image is associated with."},
        "architecture": {"type": "string", "is_base": False,
                         "description": "Operating system architecture as specified in "
                                        "https://docs.openstack.org/python-glanceclient/latest"
                                        "/cli/property-keys.html"},
        "os_distro": {"type": "string", "is_base": False,
                      "description": "Common name of operating system distribution"},
        "os_version": {"type": "string", "is_base": False,
                       "description": "Operating system version as specified by the "
                                      "distributor"},
    }
    return {"name": "image", "properties": properties,
            "additionalProperties": {"type": "string"},
            "links": [{"rel": "self", "href": "{self}"},
                      {"rel": "enclosure", "href": "{file}"},
                      {"rel": "describedby", "href": "{schema}"}]}


def images_schema():
    return {"name": "images",
            "properties": {"images": {"type": "array", "items": image_schema()},
                           "schema": {"type": "string"}, "first": {"type": "string"},
                           "next": {"type": "string"}},
            "links": [{"rel": "first", "href": "{first}"}, {"rel": "next", "href": "{next}"},
                      {"rel": "describedby", "href": "{schema}"}]}


def member_schema():
    return {"name": "member", "properties": {
        "image_id": _string("An identifier for the image", pattern=UUID_PATTERN),
        "member_id": _string("An identifier for the image member (tenantId)"),
        "status": _string("The status of this image member",
                          enum=list(ImageMember.Status.values)),
        "created_at": _string("Date and time of image member creation"),
        "updated_at": _string("Date and time of last modification of image member"),
        "schema": {"type": "string", "readOnly": True}}}


def members_schema():
    return {"name": "members",
            "properties": {"members": {"type": "array", "items": member_schema()},
                           "schema": {"type": "string"}},
            "links": [{"rel": "self", "href": "{self}"},
                      {"rel": "describedby", "href": "{schema}"}]}


def task_schema():
    return {"name": "task", "properties": {
        "id": _string("An identifier for the task", pattern=UUID_PATTERN),
        "type": _string("The type of task that represents its work",
                        enum=["import", "api_image_import", "location_import"]),
        "status": _string("The current status of this task",
                          enum=["pending", "processing", "success", "failure"]),
        "input": {"type": ["null", "object"], "description": "The parameters required by task"},
        "result": {"type": ["null", "object"], "description": "The result of current task"},
        "owner": _string("An identifier for the owner of this task"),
        "message": _string("Human-readable informative message only included when "
                           "appropriate (usually on failure)"),
        "image_id": _string("Image associated with the task", read_only=True),
        "request_id": _string("Request ID of the request that created the task",
                              read_only=True),
        "user_id": _string("User associated with the task", read_only=True),
        "expires_at": {"type": ["null", "string"], "description": "Datetime when this "
                       "resource would be subject to removal"},
        "created_at": _string("Datetime when this resource was created"),
        "updated_at": _string("Datetime when this resource was updated"),
        "self": {"type": "string"}, "schema": {"type": "string"}}}


def tasks_schema():
    # Listed tasks leave out their input, result and message, as Glance's partial schema.
    partial = task_schema()
    for name in ("input", "result", "message"):
        del partial["properties"][name]
    return {"name": "tasks",
            "properties": {"tasks": {"type": "array", "items": partial},
                           "schema": {"type": "string"}, "first": {"type": "string"},
                           "next": {"type": "string"}},
            "links": [{"rel": "first", "href": "{first}"}, {"rel": "next", "href": "{next}"},
                      {"rel": "describedby", "href": "{schema}"}]}


SCHEMAS = {"image": image_schema, "images": images_schema, "member": member_schema,
           "members": members_schema, "task": task_schema, "tasks": tasks_schema}


class SchemaView(ApiView):
    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(responses={200: {"type": "object"}})
    def get(self, request, name):
        from images.exceptions import NotFound

        if name not in SCHEMAS:
            raise NotFound(f"No schema {name}")
        return Response(SCHEMAS[name]())
