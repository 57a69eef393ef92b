"""Interoperable import: `PUT /v2/images/ID/stage`, `POST /v2/images/ID/import`, and the
image's tasks (`GET /v2/images/ID/tasks`)."""
from django.db import transaction
from rest_framework import status
from rest_framework.response import Response
from drf_spectacular.utils import extend_schema

from images.api import openapi as doc


from images import policy
from images.api.common import ApiView
from images.api.views import RawBodyMixin
from images.exceptions import Invalid
from images.representation import timestamp
from images.services import imports
from images.tasks import image_import_task


def task_view(task):
    info = task.info
    return {"id": task.id, "type": task.type, "status": task.status, "owner": task.owner,
            "image_id": task.image_id, "request_id": task.request_id, "user_id": task.user_id,
            "input": info.input, "result": info.result or None, "message": info.message or "",
            "expires_at": timestamp(task.expires_at), "created_at": timestamp(task.created_at),
            "updated_at": timestamp(task.updated_at or task.created_at),
            "self": f"/v2/tasks/{task.id}", "schema": "/v2/schemas/task"}


class StageView(RawBodyMixin, ApiView):
    @extend_schema(request=doc.BINARY, responses={204: None, **doc.errors(400, 401, 403, 404, 409, 413, 415)})
    def put(self, request, image_id):
        self.check_octet_stream(request)
        image = self.owned_image(request, image_id, "upload_image")
        imports.image_stage(image=image, stream=self.body_stream(request),
                            expected_size=self.expected_size(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


def _check_url(url):
    from stores import urlfetch

    try:
        urlfetch.check_url(url, urlfetch.FetchPolicy.from_settings())
    except urlfetch.UrlRejected as exc:
        raise Invalid(f"The web-download URI was rejected: {exc}") from None


class ImportView(ApiView):
    @extend_schema(request={"application/json": doc.IMPORT}, responses={202: None, **doc.errors(400, 401, 403, 404, 409)})
    def post(self, request, image_id):
        body = self.json_body(request)
        image = self.visible_image(request, image_id)
        method = body.get("method", {}).get("name") if isinstance(body, dict) and \
            isinstance(body.get("method"), dict) else None
        if method == "copy-image" and policy.allowed(
                request.caller, "copy_image", policy.image_target(image, request.caller)):
            # Copying an image into more stores is an operator's call (Glance: policy
            # copy_image), whoever owns the image.
            pass
        else:
            # Importing its first data (or, with copy_image = "owner", a copy) is the
            # owner's.
            self.owned_image(request, image_id)
        task = imports.image_import(
            image=image, body=body, caller=request.caller,
            header_store=request.headers.get("X-Image-Meta-Store") or None,
            request_id=request._request.request_id, url_check=_check_url)
        transaction.on_commit(lambda: image_import_task.delay(task.id))
        return Response(status=status.HTTP_202_ACCEPTED)


class ImageTasksView(ApiView):
    @extend_schema(responses={200: doc.TASKS, **doc.errors(401, 403, 404)})
    def get(self, request, image_id):
        image = self.owned_image(request, image_id, "get_image")
        return Response({"tasks": [task_view(t) for t in imports.image_tasks(image=image)]})


class TaskView(ApiView):
    @extend_schema(responses={200: doc.TASK, **doc.errors(401, 404)})
    def get(self, request, task_id):
        task = imports.task_get(task_id)
        if not request.caller.admin and task.owner != request.caller.project:
            raise imports.NotFound(f"No task {task_id}")
        return Response(task_view(task))
