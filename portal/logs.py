"""Log lines that tie a request together: time, level, logger, request id, user and project
on every line, in text or (PORTAL_LOG_FORMAT=json) one JSON object a line for log shippers.

A request's id, user and project live in a context variable bound by the request-id
middleware (images/api/middleware.py); a Celery task started by the request gets them as
message headers and binds them in the worker, so its lines carry the request's id too.
"""
import contextvars
import datetime
import json
import logging
import re
import uuid

# What oslo.middleware's request_id accepts from a client: "req-" and a UUID, lowercase.
REQUEST_ID = re.compile(r"req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# Message headers of a task started during a request (Celery keeps unknown headers and hands
# them to the worker as attributes of `task.request`).
HEADERS = {"request_id": "portal_request_id", "user": "portal_user", "project": "portal_project"}

_context = contextvars.ContextVar("portal_log_context", default=None)


def request_id_from(value):
    """The client's X-OpenStack-Request-ID when it is a valid one, else a new id."""
    if value and REQUEST_ID.fullmatch(value):
        return value
    return f"req-{uuid.uuid4()}"


class Context:
    """Who a log line is about. `request` (optional) gives the user and project once known,
    without making a query for them."""

    def __init__(self, request_id, *, user=None, project=None, request=None):
        self.request_id = request_id
        self._user, self._project, self._request = user, project, request

    def fields(self):
        user, project = self._user, self._project
        if self._request is not None:
            user, project = _identity(self._request)
        return {"request_id": self.request_id or "-", "user": user or "-",
                "project": project or "-"}


def _identity(request):
    """(username, project id) of a request's user if authentication has already found it.

    Django's request.user is a lazy object until something reads it (DRF's authentication
    replaces it with the user); reading it here would query the session in a log call.
    The project is the membership Caller.of() already loaded, for the same reason.
    """
    user = request.__dict__.get("user")
    wrapped = getattr(user, "_wrapped", user)
    if getattr(wrapped, "keystone", False):
        return wrapped.get_username(), wrapped.project_id
    if wrapped is None or not getattr(wrapped, "is_authenticated", False) \
            or not hasattr(wrapped, "_state"):
        return None, None
    membership = wrapped._state.fields_cache.get("membership")
    return wrapped.get_username(), getattr(membership, "project_id", None)


def bind(context):
    """Make `context` the current one; returns the token for `unbind()`."""
    return _context.set(context)


def unbind(token):
    _context.reset(token)


def current():
    """{request_id, user, project} of the current request or task ("-" when none)."""
    context = _context.get()
    return context.fields() if context else {"request_id": "-", "user": "-", "project": "-"}


class ContextFilter(logging.Filter):
    """Puts request_id, user and project on every record the handler formats."""

    def filter(self, record):
        for key, value in current().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


def _time(record):
    return datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(
        timespec="milliseconds").replace("+00:00", "Z")


class TextFormatter(logging.Formatter):
    """`2026-01-02T03:04:05.678Z INFO images.services.data [req-… alice <project>] message`"""

    def format(self, record):
        line = (f"{_time(record)} {record.levelname} {record.name} "
                f"[{record.request_id} {record.user} {record.project}] {record.getMessage()}")
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, request_id, user, project, message (and
    exception, a traceback, when there is one)."""

    def format(self, record):
        entry = {"time": _time(record), "level": record.levelname, "logger": record.name,
                 "request_id": record.request_id, "user": record.user,
                 "project": record.project, "message": record.getMessage()}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def task_headers(headers):
    """Add the current request's id, user and project to a task message's headers."""
    context = _context.get()
    if context is None:
        return
    for key, value in context.fields().items():
        if value != "-":
            headers.setdefault(HEADERS[key], value)


def task_context(task_request):
    """The Context a worker binds while it runs a task sent with task_headers()."""
    values = {key: getattr(task_request, header, None) for key, header in HEADERS.items()}
    if values["request_id"] is None and _context.get() is not None:
        return _context.get()  # run eagerly, inside the request that sent it: no headers
    return Context(values.pop("request_id"), **values)
