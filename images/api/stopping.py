"""Uploads a stopping web process cannot finish in time are cut off, so that they roll back.

After SIGTERM, gunicorn gives a worker `graceful_timeout` seconds to finish its requests and
then kills it: an upload still streaming at that moment would leave its image in `saving` and
a partial object in the store, with nothing left to clean up. gunicorn.conf.py calls
`stop_after()` on SIGTERM; shortly before the grace period ends, every request still reading
its body has its socket shut for reading. The upload then sees its stream end early and
rolls back (the driver removes its partial object, the image goes back to `queued`) while
the process still runs, and the client is told why.
"""
import socket
import threading

from images.api.errors import error_response

# Left of the grace period for the cut-off uploads to roll back: removing a partial object
# (for a Swift large object, every segment) and one database update.
ROLLBACK_TIME = 5
MESSAGE = ("The server is stopping and could not finish this upload in time; nothing was "
           "kept. Send it again.")

_lock = threading.Lock()
_reading = {}  # socket -> [cut off?] of each request that may still be reading its body
_stopping = threading.Event()
_cut = threading.Event()


def stop_after(graceful_timeout):
    """Cut off the uploads still running when the grace period is nearly over."""
    if _stopping.is_set():
        return
    _stopping.set()
    delay = max(graceful_timeout - ROLLBACK_TIME, graceful_timeout / 2)
    timer = threading.Timer(delay, cut_off)
    timer.daemon = True
    timer.start()


def cut_off():
    with _lock:
        _cut.set()
        reading = list(_reading.items())
    for sock, state in reading:
        _shut(sock, state)


def _shut(sock, state):
    state[0] = True
    try:
        # A recv() blocked on a silent client returns at once, as at the end of a body.
        sock.shutdown(socket.SHUT_RD)
    except OSError:
        pass


class CutOffUploadsMiddleware:
    """Registers requests that carry a body under gunicorn, and answers a cut-off one with a
    503 saying why (instead of the "fewer bytes than announced" the upload saw)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        sock = request.META.get("gunicorn.socket")
        if sock is None or request.method not in ("PUT", "POST", "PATCH"):
            return self.get_response(request)
        state = [False]
        with _lock:
            _reading[sock] = state
            late = _cut.is_set()  # on a kept-alive connection after the cut-off
        if late:
            _shut(sock, state)
        try:
            response = self.get_response(request)
        finally:
            with _lock:
                _reading.pop(sock, None)
        if state[0] and response.status_code >= 400:
            response.close()
            response = error_response(request, 503, MESSAGE)
        return response
