"""Image API v2: images, their tags, actions and data."""
import re
from urllib.parse import urlencode

from django.http import FileResponse, StreamingHttpResponse
from rest_framework import status
from rest_framework.response import Response
from drf_spectacular.utils import extend_schema

from images.api import openapi as doc


from images import policy, services
from images.api import listing
from images.api.common import ApiView
from images.api.patch import check_content_type, patch_to_update
from images.api.validation import image_create_arguments
from images.exceptions import Forbidden, ImageError, Invalid, NotSatisfiable
from images.models import ImageLocation, ImageProperty, ImageTag
from images.representation import (VIEW_FIELDS, LocationRow, PropertyRow, TagRow,
                                   image_view)
from images.selectors import images_listed_for
from portal import metrics
from stores.registry import all_stores

RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")
IMPORT_METHODS = ("glance-direct", "web-download", "copy-image")


class UnsupportedMediaType(ImageError):
    status, title = 415, "Unsupported Media Type"


class RawBodyMixin:
    """Uploads are read straight from the WSGI stream: nothing parses or spools the body."""

    def body_stream(self, request):
        django_request = request._request
        if django_request.META.get("CONTENT_LENGTH"):
            return django_request  # a LimitedStream over the declared length
        # Chunked bodies have no CONTENT_LENGTH; Django would then read 0 bytes. gunicorn
        # has already de-chunked wsgi.input, so read it directly to EOF.
        return django_request.META["wsgi.input"]

    def check_octet_stream(self, request):
        content_type = request.content_type.split(";")[0].strip()
        if content_type != "application/octet-stream":
            raise UnsupportedMediaType(f"Content-Type {content_type or 'none'} is not "
                                       "supported: send application/octet-stream")

    def expected_size(self, request):
        """The size the client announced: x-openstack-image-size, else Content-Length.

        A body that ends short of its Content-Length (the client went away) must not pass
        for a whole image.
        """
        size = request.headers.get("X-Openstack-Image-Size")
        if size is None:
            length = request._request.META.get("CONTENT_LENGTH")
            return int(length) if length and length.isdigit() else None
        if not size.strip().isdigit():
            raise Invalid("x-openstack-image-size must be a non-negative integer")
        return int(size)


def views_of(images, *, show_locations):
    """Image dicts for a page of images, with their properties, tags and locations fetched in
    three queries whatever the page size, as tuples: a model instance per row was most of
    the time of a page of 1,000 images (four related rows each)."""
    ids = [image.id for image in images]
    properties, tags, locations = {}, {}, {}
    for image_id, name, value in ImageProperty.objects.filter(image_id__in=ids).values_list(
            "image_id", "name", "value"):
        properties.setdefault(image_id, []).append(PropertyRow(name, value))
    for image_id, value in ImageTag.objects.filter(image_id__in=ids).values_list(
            "image_id", "value"):
        tags.setdefault(image_id, []).append(TagRow(value))
    for image_id, *row in ImageLocation.objects.filter(image_id__in=ids).order_by(
            "id").values_list("image_id", "value", "meta_data", "status"):
        locations.setdefault(image_id, []).append(LocationRow(*row))
    return [image_view(image, show_locations=show_locations,
                       properties=properties.get(image.id, []), tags=tags.get(image.id, []),
                       locations=locations.get(image.id, [])) for image in images]


def authorize_create(caller, kwargs):
    """add_image on the owner the image would get, as Glance checks it."""
    owner = kwargs.get("owner") or caller.project
    target = {"project_id": owner, "owner": owner,
              "visibility": kwargs.get("visibility") or "shared"}
    if not policy.allowed(caller, "add_image", target):
        if owner != caller.project:
            raise Forbidden(f"You are not permitted to create images owned by '{owner}'.")
        raise Forbidden("Policy doesn't allow add_image to be performed.")


def import_headers(response):
    response["OpenStack-image-import-methods"] = ",".join(IMPORT_METHODS)
    response["OpenStack-image-store-ids"] = ",".join(store.name for store in all_stores())
    return response


class ImageListView(ApiView):
    @extend_schema(operation_id="images_list", parameters=doc.LIST_PARAMETERS, responses={200: doc.IMAGES, **doc.errors(400, 401)})
    def get(self, request):
        params = request.query_params
        visibility = params.get("visibility")
        if visibility is not None and visibility not in ("public", "private", "shared",
                                                         "community", "all"):
            raise Invalid(f"Invalid visibility value: {visibility}")
        member_status = params.get("member_status", "accepted")
        if member_status not in ("pending", "accepted", "rejected", "all"):
            raise Invalid(f"Invalid member_status value: {member_status}")
        policy.authorize(request.caller, "get_images")
        limit = listing.parse_limit(params)
        order = listing.parse_sort(params)
        queryset = images_listed_for(request.caller, visibility=visibility,
                                     member_status=member_status)
        queryset = listing.apply_filters(queryset, params)
        page = listing.order_and_page(queryset, order, marker_id=params.get("marker"),
                                      limit=limit, fields=VIEW_FIELDS)
        query = [(k, v) for k in params for v in params.getlist(k) if k != "marker"]
        body = {"images": views_of(page, show_locations=request.caller.admin),
                "schema": "/v2/schemas/images",
                "first": "/v2/images" + ("?" + urlencode(query) if query else "")}
        if limit and len(page) == limit:
            if "limit" not in params:
                query.append(("limit", str(limit)))
            body["next"] = "/v2/images?" + urlencode(query + [("marker", page[-1].id)])
        return Response(body)

    @extend_schema(request={"application/json": doc.IMAGE_CREATE}, operation_id="images_create", responses={201: doc.IMAGE, **doc.errors(400, 401, 403, 409, 413)})
    def post(self, request):
        kwargs = image_create_arguments(self.json_body(request), request.caller)
        authorize_create(request.caller, kwargs)
        image = services.image_create(**kwargs)
        response = Response(image_view(image, show_locations=request.caller.admin),
                            status=status.HTTP_201_CREATED)
        response["Location"] = request.build_absolute_uri(f"/v2/images/{image.id}")
        return import_headers(response)


class ImageDetailView(ApiView):
    @extend_schema(responses={200: doc.IMAGE, **doc.errors(401, 404)})
    def get(self, request, image_id):
        image = self.visible_image(request, image_id)
        return Response(image_view(image, show_locations=request.caller.admin))

    @extend_schema(request={"application/openstack-images-v2.1-json-patch": doc.PATCH}, responses={200: doc.IMAGE, **doc.errors(400, 401, 403, 404, 409, 413, 415)})
    def patch(self, request, image_id):
        check_content_type(request.content_type)
        image = self.owned_image(request, image_id)
        properties = dict(ImageProperty.objects.filter(image=image).values_list("name", "value"))
        update = patch_to_update(self.json_body(request), image, request.caller, properties)
        services.image_update(image=image, **update)
        image.refresh_from_db()
        return Response(image_view(image, show_locations=request.caller.admin))

    @extend_schema(responses={204: None, **doc.errors(401, 403, 404)})
    def delete(self, request, image_id):
        services.image_delete(image=self.owned_image(request, image_id, "delete_image"))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ImageTagView(ApiView):
    @extend_schema(request=None, responses={204: None, **doc.errors(400, 401, 403, 404, 413)})
    def put(self, request, image_id, tag):
        services.tag_add(image=self.owned_image(request, image_id), value=tag)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses={204: None, **doc.errors(401, 403, 404)})
    def delete(self, request, image_id, tag):
        services.tag_remove(image=self.owned_image(request, image_id), value=tag)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ImageActionView(ApiView):
    actions = {"deactivate": services.image_deactivate, "reactivate": services.image_reactivate}

    @extend_schema(request=None, responses={204: None, **doc.errors(400, 401, 403, 404)})
    def post(self, request, image_id, action):
        if action not in self.actions:
            raise Invalid(f"Unknown action {action!r}")
        self.actions[action](image=self.owned_image(request, image_id, action))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ImageFileView(RawBodyMixin, ApiView):
    @extend_schema(request=doc.BINARY, responses={204: None, **doc.errors(400, 401, 403, 404, 409, 410, 413, 415, 503)})
    def put(self, request, image_id):
        self.check_octet_stream(request)
        image = self.owned_image(request, image_id, "upload_image")
        services.image_upload(image=image, stream=self.body_stream(request),
                              store_name=request.headers.get("X-Image-Meta-Store") or None,
                              expected_size=self.expected_size(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses={(200, "application/octet-stream"): doc.BINARY["application/octet-stream"], 204: None, **doc.errors(401, 403, 404, 416, 503)})
    def get(self, request, image_id):
        image = self.visible_image(request, image_id, "download_image")
        if image.status == image.Status.DEACTIVATED and not request.caller.admin:
            raise Forbidden("The requested image has been deactivated. Image data download "
                            "is forbidden.")
        offset, length, partial = 0, None, False
        header = request.headers.get("Range") or request.headers.get("Content-Range")
        if image.size is not None and header:
            offset, length = parse_range(header, image.size)
            partial = True
        prefer = [s for s in request.query_params.get("prefer", "").split(",") if s]
        reader, location = services.image_download(image=image, offset=offset, length=length,
                                                   prefer=prefer)
        count = image.size - offset if length is None else length
        metrics.bytes_downloaded(location.store, count)
        if getattr(reader, "file", None) is not None and offset + count == image.size:
            # A local file: FileResponse lets the WSGI server use sendfile().
            response = FileResponse(reader.file, content_type="application/octet-stream")
        else:
            response = StreamingHttpResponse(reader, content_type="application/octet-stream")
            response.close = reader.close  # release the store connection when done
        response["Content-Type"] = "application/octet-stream"
        response["Content-Length"] = str(count)
        response.headers.pop("Content-Disposition", None)
        if image.checksum:
            response["Content-MD5"] = image.checksum
        if partial:
            response.status_code = 206
            response["Content-Range"] = f"bytes {offset}-{offset + count - 1}/{image.size}"
        return response


def parse_range(header, size):
    """(offset, length) of a single `bytes=a-b` range; Invalid or NotSatisfiable."""
    header = header.strip()
    if header.startswith("bytes ") and "/" in header:  # an old client's Content-Range
        header = "bytes=" + header[6:].split("/")[0]
    if "," in header:
        raise Invalid("Multiple ranges are not supported")
    match = RANGE_RE.match(header)
    if not match or match.groups() == ("", ""):
        raise NotSatisfiable(f"Invalid range {header!r}")
    first, last = match.groups()
    if first == "":
        if int(last) == 0:
            raise NotSatisfiable(f"Range {header!r} is empty")
        length = min(int(last), size)
        return size - length, length
    first = int(first)
    last = min(int(last), size - 1) if last else size - 1
    if first >= size or last < first:
        raise NotSatisfiable(f"Range {header!r} is not satisfiable for {size} bytes")
    return first, last - first + 1
