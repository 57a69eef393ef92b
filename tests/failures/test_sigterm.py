"""gunicorn told to stop (SIGTERM) while uploads are streaming in."""
import os
import select
import signal
import socket
import threading
import time

import pytest

from tests.failures.conftest import MiB
from tests.live.clients import create_image, digests, show_image, wait_until

pytestmark = pytest.mark.live

GRACE = 6  # gunicorn's graceful_timeout for this test
SIZE = 16 * MiB


class RawUpload(threading.Thread):
    """A client sending an image over its own socket: half of it at once, then once `go` is
    set the rest `pace`: "at once", "trickled" (too slowly to end within the grace period) or
    "never" (the client stalls)."""

    def __init__(self, portal, image, data, go, *, pace):
        super().__init__(daemon=True)
        self.portal, self.image, self.data, self.go, self.pace = portal, image, data, go, pace
        self.halfway = threading.Event()
        self.response = b""

    def run(self):
        sock = socket.create_connection(("127.0.0.1", self.portal.port))
        try:
            sock.sendall(
                f"PUT /v2/images/{self.image['id']}/file HTTP/1.1\r\n"
                f"Host: 127.0.0.1\r\nX-Auth-Token: {self.portal.api.headers['X-Auth-Token']}\r\n"
                f"Content-Type: application/octet-stream\r\nContent-Length: {len(self.data)}"
                "\r\nConnection: close\r\n\r\n".encode())
            half = len(self.data) // 2
            sock.sendall(self.data[:half])
            self.halfway.set()
            self.go.wait()
            step = 64 * 2**10 if self.pace == "trickled" else len(self.data)
            for offset in range(half, len(self.data) if self.pace != "never" else half, step):
                if select.select([sock], [], [], 0)[0]:
                    break  # an early answer: stop sending, as curl does
                sock.sendall(self.data[offset:offset + step])
                if self.pace == "trickled":
                    time.sleep(0.2)
            while chunk := sock.recv(65536):
                self.response += chunk
        except OSError:
            pass  # the server went away: what it left behind is what the test checks
        finally:
            sock.close()


def test_uploads_in_flight_at_sigterm_finish_or_roll_back_and_none_stays_saving(make_portal):
    portal = make_portal()
    # A gthread worker takes connections whether or not a thread is free: with 4 threads,
    # one worker could accept all four uploads and leave the test's own requests waiting
    # behind them.
    portal.start(workers=2, graceful_timeout=GRACE, worker=False, threads=8)
    api = portal.api
    go = threading.Event()
    clients = []
    for n, pace in enumerate(["at once", "at once", "trickled", "never"]):
        image = create_image(api, name=f"sigterm-{n}")
        clients.append(RawUpload(portal, image, os.urandom(SIZE + n), go, pace=pace))
    for client in clients:
        client.start()
    for client in clients:
        assert client.halfway.wait(30)
    for client in clients:
        wait_until(lambda: show_image(api, client.image["id"])["status"] == "saving",
                   message="every upload to be under way")

    portal.process.send_signal(signal.SIGTERM)
    time.sleep(0.5)  # the workers have the signal before the rest comes
    go.set()
    # gunicorn kills whatever is still running once the grace period is over.
    portal.process.wait(GRACE + 15)
    for client in clients:
        client.join(30)

    portal.start_web(graceful_timeout=GRACE)
    quick, slow = clients[:2], clients[2:]
    for client in quick:
        assert client.response.startswith(b"HTTP/1.1 204"), client.response[:300]
        image = show_image(api, client.image["id"])
        assert image["status"] == "active", image
        assert {k: image[k] for k in digests(b"")} == digests(client.data)
    for client in slow:
        image = show_image(api, client.image["id"])
        assert image["status"] == "queued" and image["size"] is None, image
        assert client.response.startswith(b"HTTP/1.1 503"), client.response[:300]
        assert b"The server is stopping" in client.response, client.response[:300]
    # Nothing else in the store: the rolled-back uploads left no partial object.
    assert portal.files() == sorted(client.image["id"] for client in quick)
