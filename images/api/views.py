"""Image API v2: the image record and its data."""
import re

from django.http import FileResponse, StreamingHttpResponse
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.services import project_of
from images import services
from images.exceptions import Invalid, NotSatisfiable
from images.representation import image_view
from images.selectors import image_get

RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


def is_admin(user):
    return bool(user and user.is_authenticated and user.is_superuser)


class RawBodyMixin:
    """Uploads are read straight from the WSGI stream: nothing parses or spools the body."""

    parser_classes = []

    def body_stream(self, request):
        django_request = request._request
        if django_request.META.get("CONTENT_LENGTH"):
            return django_request  # a LimitedStream over the declared length
        # Chunked bodies have no CONTENT_LENGTH; Django would then read 0 bytes. gunicorn
        # has already de-chunked wsgi.input, so read it directly to EOF.
        return django_request.META["wsgi.input"]


class ImageListView(APIView):
    def post(self, request):
        data = request.data if isinstance(request.data, dict) else None
        if data is None:
            raise Invalid("Unexpected body type. Expected dict.")
        base = {"id", "name", "visibility", "protected", "os_hidden", "min_ram", "min_disk",
                "disk_format", "container_format", "tags"}
        kwargs = {k: data[k] for k in base if k in data}
        properties = {k: v for k, v in data.items() if k not in base and k != "owner"}
        image = services.image_create(owner=data.get("owner") if is_admin(request.user)
                                      else project_of(request.user),
                                      properties=properties, **kwargs)
        response = Response(image_view(image, show_locations=is_admin(request.user)),
                            status=status.HTTP_201_CREATED)
        response["Location"] = request.build_absolute_uri(f"/v2/images/{image.id}")
        return response


class ImageDetailView(APIView):
    def get(self, request, image_id):
        image = image_get(image_id)
        return Response(image_view(image, show_locations=is_admin(request.user)))

    def delete(self, request, image_id):
        services.image_delete(image=image_get(image_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ImageFileView(RawBodyMixin, APIView):
    def put(self, request, image_id):
        image = image_get(image_id)
        size = request.headers.get("X-Openstack-Image-Size")
        if size is not None and not size.isdigit():
            raise Invalid("x-openstack-image-size must be a non-negative integer")
        services.image_upload(image=image, stream=self.body_stream(request),
                              store_name=request.headers.get("X-Image-Meta-Store") or None,
                              expected_size=int(size) if size is not None else None)
        return Response(status=status.HTTP_204_NO_CONTENT)

    def get(self, request, image_id):
        image = image_get(image_id)
        offset, length, partial = 0, None, False
        if image.size is not None and "Range" in request.headers:
            offset, length = parse_range(request.headers["Range"], image.size)
            partial = True
        prefer = [s for s in request.query_params.get("prefer", "").split(",") if s]
        reader, _ = services.image_download(image=image, offset=offset, length=length,
                                            prefer=prefer)
        count = image.size - offset if length is None else length
        if getattr(reader, "file", None) is not None and offset + count == image.size:
            # A local file: FileResponse lets the WSGI server use sendfile().
            response = FileResponse(reader.file, content_type="application/octet-stream")
        else:
            response = StreamingHttpResponse(reader, content_type="application/octet-stream")
            response.close = reader.close  # release the store connection when done
        response["Content-Type"] = "application/octet-stream"
        response["Content-Length"] = str(count)
        if image.checksum:
            response["Content-MD5"] = image.checksum
        if partial:
            response.status_code = 206
            response["Content-Range"] = f"bytes {offset}-{offset + count - 1}/{image.size}"
        return response


def parse_range(header, size):
    """(offset, length) of a single `bytes=a-b` range; Invalid or NotSatisfiable."""
    if "," in header:
        raise Invalid("Multiple ranges are not supported")
    match = RANGE_RE.match(header.strip())
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
