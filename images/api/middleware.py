"""Middleware of the Image API: request ids, and keeping connections usable after a refusal."""
import logging
import time

from portal import logs, metrics

request_log = logging.getLogger("portal.request")

# Probes and scrapes come every few seconds; their lines would bury the requests.
QUIET_PATHS = ("/healthcheck", "/metrics")

# What is read (and thrown away) of a refused request's body after the answer has gone out.
DRAIN_LIMIT = 64 * 2**20


class RequestIdMiddleware:
    """Every response carries `x-openstack-request-id`, as Glance's do (clients log it).

    A valid id the client sends (`req-<uuid>`) is kept, anything else replaced. The id, the
    user and the project are on every log line of the request (portal/logs.py), and on the
    tasks it starts; one line per request says what was answered, and the request is
    counted for /metrics.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.request_id = logs.request_id_from(
            request.headers.get("X-OpenStack-Request-ID"))
        token = logs.bind(logs.Context(request.request_id, request=request))
        started = time.monotonic()
        try:
            response = self.get_response(request)
            response.headers["x-openstack-request-id"] = request.request_id
            seconds = time.monotonic() - started
            metrics.request_observed(request, response, seconds)
            level = logging.DEBUG if request.path in QUIET_PATHS else logging.INFO
            request_log.log(level, '"%s %s" %s %.3fs', request.method,
                            request.get_full_path(), response.status_code, seconds)
            return response
        finally:
            logs.unbind(token)


class DrainRefusedBodyMiddleware:
    """Read the rest of a refused upload's body once the answer has been sent.

    A refused upload (409 on an active image, 400 for an unknown store, ...) is answered
    without reading its body. gunicorn then discards at most 64 KiB of what is left before
    it drops the keep-alive connection it has just announced, and the client's next request
    on it fails. Reading the remainder after the response (in `close()`, when the client
    already has its answer) keeps the connection usable; past DRAIN_LIMIT it is dropped.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code >= 400 and request.method in ("PUT", "POST", "PATCH"):
            stream = request.META.get("wsgi.input")
            if stream is not None:
                response._resource_closers.append(lambda: _drain(stream))
        return response


def _drain(stream):
    left = DRAIN_LIMIT
    try:
        while left > 0:
            chunk = stream.read(min(2**20, left))
            if not chunk:
                return
            left -= len(chunk)
    except Exception:  # best effort: a client that went away leaves nothing to keep
        return
