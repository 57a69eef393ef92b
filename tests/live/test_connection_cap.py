"""A gunicorn worker whose threads are all busy takes no new connection: another worker does.

Without the cap, a worker busy with a long upload still accepts connections and queues them
behind it, and a list request waits for the upload to end (seconds to minutes).
"""
import os
import socket
import subprocess
import time

import pytest
import requests

from tests.live.server import BIN, ROOT, ManageCommands, free_port, wait_for


class OneThreadPortal(ManageCommands):
    """gunicorn with two workers of one thread each, given on the command line."""

    def __init__(self, data_dir):
        self.data_dir = data_dir
        self.env = {**{k: v for k, v in os.environ.items()
                       if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "PORTAL_CONFIG",
                                    "WEB_THREADS", "WEB_CONCURRENCY")},
                    "PORTAL_DATA_DIR": str(data_dir)}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self):
        self.manage("migrate", "--noinput", "-v0")
        self.process = subprocess.Popen(
            [str(BIN / "gunicorn"), "portal.wsgi", "--bind", f"127.0.0.1:{self.port}",
             "--workers", "2", "--threads", "1"],
            cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL,
            stderr=open(self.data_dir / "gunicorn.log", "ab"))
        wait_for(self.url + "/healthcheck", process=self.process)

    def stop(self):
        self.process.terminate()
        self.process.wait(30)


@pytest.fixture
def portal(tmp_path):
    portal = OneThreadPortal(tmp_path)
    portal.start()
    yield portal
    portal.stop()


def test_a_request_is_served_by_a_free_worker_while_the_other_holds_a_stalled_upload(portal):
    token = portal.token("admin", "--admin")
    headers = {"X-Auth-Token": token}
    image = requests.post(portal.url + "/v2/images", headers=headers, timeout=30,
                          json={"name": "held", "disk_format": "raw",
                                "container_format": "bare"}).json()
    # An upload that announces 64 MiB, sends 64 KiB and stalls: its worker's only thread
    # waits in the body's read.
    stalled = socket.create_connection(("127.0.0.1", portal.port))
    stalled.sendall((f"PUT /v2/images/{image['id']}/file HTTP/1.1\r\n"
                     f"Host: 127.0.0.1\r\nX-Auth-Token: {token}\r\n"
                     "Content-Type: application/octet-stream\r\n"
                     f"Content-Length: {64 * 2**20}\r\n\r\n").encode() + os.urandom(65536))
    try:
        deadline = time.monotonic() + 30
        while requests.get(f"{portal.url}/v2/images/{image['id']}", headers=headers,
                           timeout=30).json()["status"] != "saving":
            assert time.monotonic() < deadline, "the upload never started"
            time.sleep(0.1)
        # Each request is a new connection; were the busy worker to take one, it would wait
        # there until the upload ends, which it does not while the test holds it.
        answered = [requests.get(portal.url + "/v2/images", headers=headers,
                                 timeout=10).status_code for _ in range(12)]
        assert answered == [200] * 12
    finally:
        stalled.close()
    deadline = time.monotonic() + 30
    while requests.get(f"{portal.url}/v2/images/{image['id']}", headers=headers,
                       timeout=30).json()["status"] != "queued":
        assert time.monotonic() < deadline, "the cut-off upload was not rolled back"
        time.sleep(0.1)
