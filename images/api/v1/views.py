"""Image API v1 views: each request mapped onto the v2 records and services."""
import logging

from django.http import FileResponse, StreamingHttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from images import services
from images.api.common import ApiView
from images.api.v1 import access
from images.api.v1.listing import image_list
from images.api.v1.meta import (image_v1, meta_headers, parse_bool, parse_checksum,
                                parse_int, request_meta)
from images.api.views import RawBodyMixin
from images.exceptions import Conflict, Forbidden, ImageError, Invalid, NotFound
from images.models import Image
from stores.registry import client_stores

logger = logging.getLogger(__name__)

Status = Image.Status
V = Image.Visibility
PUBLICIZE = ("Only administrators may make an image public (Glance policy "
             "publicize_image).")
NO_DATA_TO_CHECK = "x-image-meta-checksum was given without image data to compare it with"


class PrefixedReader:
    """A stream whose first bytes were already read (to tell an empty body from data)."""

    def __init__(self, head, stream):
        self._head = head
        self._stream = stream

    def read(self, n=-1):
        if not self._head:
            return self._stream.read(n)
        head, self._head = self._head, b""
        if n is None or n < 0:
            return head + self._stream.read()
        if n <= len(head):
            head, self._head = head[:n], head[n:]
            return head
        return head + self._stream.read(n - len(head))


def store_for(name):
    """The store `x-image-meta-store` names: the store of that name, else the first configured
    store of that kind (v1 named store types: `file`, `swift`); the default store for None.

    Invalid, naming the known stores, for an unknown or read-only one.
    """
    if not name:
        return services.store_get(None, writable=True)
    stores = client_stores()
    store = next((s for s in stores if s.name == name), None) or \
        next((s for s in stores if s.kind == name), None)
    if store is None:
        known = ", ".join(f"{s.name} ({s.kind})" for s in stores)
        raise Invalid(f"Store '{name}' not found: the known stores (and their types) are "
                      f"{known}")
    return services.store_get(store.name, writable=True)


def refuse_unsupported(request, fields):
    if "location" in fields or "copy_from" in fields or \
            "HTTP_X_GLANCE_API_COPY_FROM" in request.META:
        raise Invalid("Image locations and copy-from are not supported through v1: upload "
                      "the data in the request body instead")


def check_formats_for_data(fields, image=None):
    """Invalid before any byte is stored when the formats an upload needs are missing."""
    missing = [name for name in ("disk_format", "container_format")
               if not fields.get(name) and not (image and getattr(image, name))]
    if not missing:
        return
    message = ("Properties disk_format and container_format must be set prior to saving "
               f"data (missing: {', '.join(missing)}).")
    if image is None and "is_public" not in fields:
        # glanceclient always sends x-image-meta-is_public on create: when it is missing too,
        # the WSGI server dropped every header with an underscore (gunicorn >= 22 does).
        message += (" No x-image-meta-* header with an underscore arrived: the server "
                    "drops such headers; run gunicorn from the project folder "
                    "(gunicorn.conf.py) or with --header-map dangerous.")
    raise Invalid(message)


def image_data_upload(*, image, data, store, expected_size, checksum, created):
    """Stream the request body into `store`; then compare the supplied checksum.

    A mismatch deletes the image with its data (Glance v1 killed it). When the image was made
    by this request, any failure deletes it, so a failed create leaves no image behind.
    """
    try:
        services.image_upload(image=image, stream=data, store_name=store.name,
                              expected_size=expected_size)
    except BaseException:
        if created:
            discard(image)
        raise
    if checksum is not None and image.checksum != checksum:
        services.image_delete(image=image)
        raise Invalid(f"Supplied checksum ({checksum}) and checksum generated from uploaded "
                      f"image ({image.checksum}) did not match. The image was deleted with "
                      "its data.")


def discard(image):
    try:
        services.image_delete(image=image)
    except ImageError:
        logger.exception("image %s: could not delete after a failed upload", image.id)


class V1View(RawBodyMixin, ApiView):
    """A v1 endpoint: the v2 views' caller, JSON errors and raw request body."""

    def image_data(self, request):
        """The body's image bytes as a reader, or None when there are none.

        glanceclient sends an empty chunked body when its stdin is not a terminal and no
        --file is given; that is no data, not a 0-byte image.
        """
        meta = request._request.META
        chunked = "chunked" in meta.get("HTTP_TRANSFER_ENCODING", "").lower()
        if not chunked and meta.get("CONTENT_LENGTH", "") in ("", "0"):
            return None
        stream = self.body_stream(request)
        head = stream.read(1)
        return PrefixedReader(head, stream) if head else None


# Left out of the OpenAPI description: v1 is a compatibility shim whose metadata travels
# in headers (image-api.md §10).
@extend_schema(exclude=True)
class ImagesView(V1View):
    """`POST /v1/images` creates (and uploads); `GET /v1/images` lists in brief."""

    def get(self, request):
        brief = ("id", "name", "disk_format", "container_format", "size", "checksum")
        images = image_list(request.query_params, request.caller)
        return Response({"images": [
            {key: value for key, value in image_v1(image, properties=image.live_properties)
             .items() if key in brief} for image in images]})

    def post(self, request):
        caller = request.caller
        fields, properties = request_meta(request)
        refuse_unsupported(request, fields)
        # Checked before anything is read or created: an unknown store leaves nothing.
        store = store_for(fields["store"]) if fields.get("store") else None
        is_public = parse_bool(fields, "is_public")
        if is_public and not caller.admin:
            raise Forbidden(PUBLICIZE)
        owner = caller.project
        if fields.get("owner") and fields["owner"] != owner:
            if not caller.admin:
                raise Forbidden("Only administrators may set the owner of an image.")
            owner = fields["owner"]
        checksum = parse_checksum(fields)
        expected_size = parse_int(fields, "size")
        min_disk, min_ram = parse_int(fields, "min_disk"), parse_int(fields, "min_ram")
        data = self.image_data(request)
        if data is not None:
            check_formats_for_data(fields)
            store = store or store_for(None)
        elif checksum is not None:
            raise Invalid(NO_DATA_TO_CHECK)
        image = services.image_create(
            owner=owner, id=fields.get("id") or None, name=fields.get("name"),
            disk_format=fields.get("disk_format") or None,
            container_format=fields.get("container_format") or None,
            visibility=V.PUBLIC if is_public else V.PRIVATE,
            protected=bool(parse_bool(fields, "protected")),
            min_disk=min_disk or 0, min_ram=min_ram or 0, properties=properties)
        if data is not None:
            image_data_upload(image=image, data=data, store=store, expected_size=expected_size,
                              checksum=checksum, created=True)
        response = Response({"image": image_v1(image)}, status=status.HTTP_201_CREATED)
        response["Location"] = request.build_absolute_uri(f"/v1/images/{image.id}")
        return response


@extend_schema(exclude=True)
class ImageDetailListView(V1View):
    """`GET /v1/images/detail`: what `glance image-list` (and name lookups) read."""

    def get(self, request):
        images = image_list(request.query_params, request.caller)
        return Response({"images": [image_v1(image, properties=image.live_properties)
                                    for image in images]})


@extend_schema(exclude=True)
class ImageView(V1View):
    """`HEAD` (metadata), `GET` (data), `PUT` (update, upload) and `DELETE` of one image."""

    def head(self, request, image_id):
        image = access.image_visible(image_id, request.caller, deleted=True)
        response = Response(status=status.HTTP_200_OK)
        for key, value in meta_headers(image_v1(image)).items():
            response[key] = value
        return response

    def get(self, request, image_id):
        image = access.image_visible(image_id, request.caller)
        if image.status == Status.DEACTIVATED:
            raise Forbidden("The requested image has been deactivated. Image data download "
                            "is forbidden.")
        if image.status != Status.ACTIVE:
            raise NotFound(f"Image {image.id} is not active")
        reader, _ = services.image_download(image=image)
        if getattr(reader, "file", None) is not None:
            # A local file: FileResponse lets the WSGI server use sendfile().
            response = FileResponse(reader.file, content_type="application/octet-stream")
        else:
            response = StreamingHttpResponse(reader, content_type="application/octet-stream")
            response.close = reader.close  # release the store connection when done
        for key, value in meta_headers(image_v1(image)).items():
            response[key] = value
        response["Content-Type"] = "application/octet-stream"
        response["Content-Length"] = str(image.size)
        if image.checksum:
            response["ETag"] = image.checksum
            response["Content-MD5"] = image.checksum
        return response

    def put(self, request, image_id):
        caller = request.caller
        image = access.image_modifiable(image_id, caller, deleted=True)
        if image.deleted:
            raise Forbidden("Forbidden to update deleted image.")
        fields, properties = request_meta(request)
        refuse_unsupported(request, fields)
        changes = {}
        for name in ("name", "disk_format", "container_format"):
            if name in fields:
                changes[name] = fields[name] or None
        for name in ("min_disk", "min_ram"):
            value = parse_int(fields, name)
            if value is not None:
                changes[name] = value
        protected = parse_bool(fields, "protected")
        if protected is not None:
            changes["protected"] = protected
        is_public = parse_bool(fields, "is_public")
        if is_public and image.visibility != V.PUBLIC:
            if not caller.admin:
                raise Forbidden(PUBLICIZE)
            changes["visibility"] = V.PUBLIC
        elif is_public is False and image.visibility == V.PUBLIC:
            changes["visibility"] = V.PRIVATE  # shared and community images stay as they are
        if fields.get("owner") and fields["owner"] != image.owner:
            if not caller.admin:
                raise Forbidden("Only administrators may change the owner of an image.")
            changes["owner"] = fields["owner"]
        checksum = parse_checksum(fields)
        expected_size = parse_int(fields, "size")
        if image.status != Status.QUEUED:
            # Glance v1's ACTIVE_IMMUTABLE: data-derived fields follow the data.
            for name, value in (("size", expected_size), ("checksum", checksum)):
                if value is not None and value != getattr(image, name):
                    raise Forbidden(f"Forbidden to modify '{name}' of {image.status} image.")
        store = store_for(fields["store"]) if fields.get("store") else None
        data = self.image_data(request)
        if data is not None:
            if image.status != Status.QUEUED:
                raise Conflict(f"Cannot upload to an unqueued image (image is {image.status})")
            check_formats_for_data(changes, image)
            store = store or store_for(None)
        elif checksum is not None and image.status == Status.QUEUED:
            raise Invalid(NO_DATA_TO_CHECK)
        remove = ()
        if request.META.get("HTTP_X_GLANCE_REGISTRY_PURGE_PROPS", "").lower() == "true":
            # Reserved os_glance_* properties are the service's (the import lock among
            # them): v1 cannot set them (request_meta refuses them), nor purge them.
            remove = [prop.name for prop in image.properties.all()
                      if prop.name not in properties and not prop.name.startswith("os_glance")]
        services.image_update(image=image, changes=changes, set_properties=properties,
                              remove_properties=remove)
        if data is not None:
            image_data_upload(image=image, data=data, store=store, expected_size=expected_size,
                              checksum=checksum, created=False)
        image.refresh_from_db()
        return Response({"image": image_v1(image)})

    def delete(self, request, image_id):
        image = access.image_modifiable(image_id, request.caller)
        services.image_delete(image=image)
        return Response(status=status.HTTP_200_OK)
