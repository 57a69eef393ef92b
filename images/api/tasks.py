"""`GET /v2/tasks`: the tasks list, an admin's call by default (the policy's
tasks_api_access, then get_tasks, as Glance checks them), paged, sorted and filtered as
Glance's tasks API reads its query; `POST` is in images/api/task_create.py."""
from urllib.parse import urlencode

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from images import policy
from images.api import openapi as doc
from images.api import schemas
from images.api.common import ApiView
from images.api.task_create import create_task
from images.api.listing import order_and_page, parse_limit
from images.exceptions import Invalid
from images.representation import timestamp
from images.selectors import is_uuid
from images.services.imports import tasks_visible_to

# The list as drf-spectacular describes it, from the schema glanceclient reads.
LIST_SCHEMA = doc._readable(schemas.tasks_schema())
SORT_KEYS = ("id", "type", "status", "owner", "created_at", "updated_at")
STATUSES = ("pending", "processing", "success", "failure")
# The task schema's types; Glance's own check accepts "import" alone, so that its list can
# not be filtered by the type its imports create (api_image_import).
TYPES = ("import", "api_image_import", "location_import")
# Glance filters on any column of its tasks table; these are the ones worth asking for.
EXACT_FILTERS = ("owner", "image_id", "request_id", "user_id")


def task_stub(task):
    """A task as Glance lists it: without its input, result and message."""
    stub = {"id": task.id, "type": task.type, "status": task.status, "owner": task.owner,
            "created_at": timestamp(task.created_at),
            "updated_at": timestamp(task.updated_at or task.created_at),
            "self": f"/v2/tasks/{task.id}", "schema": "/v2/schemas/task"}
    if task.expires_at:
        stub["expires_at"] = timestamp(task.expires_at)
    return stub


def parse_order(params):
    """[(key, direction)]: the asked key first, then created_at and id, in one direction."""
    key = params.get("sort_key", "created_at")
    direction = params.get("sort_dir", "desc")
    if direction not in ("asc", "desc"):
        raise Invalid(f"Invalid sort direction: {direction}")
    if key not in SORT_KEYS:
        raise Invalid(f"Sort key supplied is invalid: {key}")
    return [(k, direction) for k in dict.fromkeys((key, "created_at", "id"))]


def filtered(tasks, params):
    status = params.get("status")
    if status:
        if status not in STATUSES:
            raise Invalid(f"Invalid status value: {status}")
        tasks = tasks.filter(status=status)
    kind = params.get("type")
    if kind:
        if kind not in TYPES:
            raise Invalid(f"Invalid type value: {kind}")
        tasks = tasks.filter(type=kind)
    for name in EXACT_FILTERS:
        if name in params:
            tasks = tasks.filter(**{name: params[name]})
    return tasks


class TaskListView(ApiView):
    @extend_schema(
        operation_id="tasks_list",
        parameters=[OpenApiParameter("limit", int), OpenApiParameter("marker", str),
                    OpenApiParameter("sort_key", str, enum=list(SORT_KEYS)),
                    OpenApiParameter("sort_dir", str, enum=["asc", "desc"]),
                    OpenApiParameter("status", str, enum=list(STATUSES)),
                    OpenApiParameter("type", str, enum=list(TYPES))],
        responses={200: LIST_SCHEMA, **doc.errors(400, 401, 403)})
    def get(self, request):
        policy.authorize(request.caller, "tasks_api_access",
                         message="You are not authorized to complete tasks_api_access action.")
        policy.authorize(request.caller, "get_tasks")
        params = request.query_params
        limit = parse_limit(params)
        marker = params.get("marker")
        if marker is not None and not is_uuid(marker):
            raise Invalid("Invalid marker format")
        order = parse_order(params)
        tasks = filtered(tasks_visible_to(caller=request.caller), params)
        page = order_and_page(tasks, order, marker_id=marker, limit=limit)
        # Glance repeats every parameter but the marker in `first` and `next`, the last
        # value of a repeated one.
        query = {name: value for name, value in params.items() if name != "marker"}
        body = {"tasks": [task_stub(task) for task in page],
                "first": "/v2/tasks" + (f"?{urlencode(query)}" if query else ""),
                "schema": "/v2/schemas/tasks"}
        if page and len(page) == limit:  # a full page: there may be more
            body["next"] = "/v2/tasks?" + urlencode({**query, "marker": page[-1].id})
        return Response(body)

    @extend_schema(operation_id="tasks_create", request={"application/json": doc.ANY_OBJECT},
                   responses={201: doc.TASK, **doc.errors(400, 401, 403)})
    def post(self, request):
        return create_task(self, request)
