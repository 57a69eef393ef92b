"""`POST /v2/tasks`: Glance's task API, type `import` (an admin's call by default, as the
whole tasks API is): an image made from `image_properties`, its data fetched from
`import_from` as a web-download import fetches it, with the same checks of the address."""
from django.db import transaction
from rest_framework import status
from rest_framework.response import Response

from images import policy, services
from images.api.imports import _check_url, task_view
from images.api.validation import image_create_arguments
from images.api.views import authorize_create
from images.exceptions import Invalid
from images.services import imports
from images.tasks import image_import_task

INPUT_FIELDS = ("import_from", "import_from_format", "image_properties")


def import_input(body):
    """(image properties, source URL) of a task body; Invalid names what is wrong."""
    if not isinstance(body, dict):
        raise Invalid("Unexpected body type. Expected dict.")
    kind = body.get("type")
    if kind != "import":
        raise Invalid(f"Task type '{kind}' is not supported: only 'import' is.")
    task_input = body.get("input")
    if not isinstance(task_input, dict):
        raise Invalid("Task input must be an object with " + ", ".join(INPUT_FIELDS))
    for field in INPUT_FIELDS:
        if field not in task_input:
            raise Invalid(f"Input does not contain '{field}' field")
    source, properties = task_input["import_from"], task_input["image_properties"]
    if not isinstance(source, str) or not source.lower().startswith(("http://", "https://")):
        raise Invalid("import_from must be an http or https URL")
    if not isinstance(properties, dict):
        raise Invalid("image_properties must be an object")
    return properties, source


def create_task(view, request):
    caller = request.caller
    policy.authorize(caller, "tasks_api_access")
    policy.authorize(caller, "add_task")
    properties, source = import_input(view.json_body(request))
    # Refused now, with nothing made, rather than as a failed task later: an address that
    # does not resolve, or one the fetch policy forbids (loopback, private, metadata...).
    _check_url(source)
    kwargs = image_create_arguments(properties, caller)
    authorize_create(caller, kwargs)
    with transaction.atomic():
        image = services.image_create(**kwargs)
        task = imports.image_import(
            image=image, body={"method": {"name": "web-download", "uri": source}},
            caller=caller, request_id=request._request.request_id, url_check=_check_url)
        transaction.on_commit(lambda: image_import_task.delay(task.id))
    return Response(task_view(task), status=status.HTTP_201_CREATED)
