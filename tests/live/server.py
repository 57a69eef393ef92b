"""A real portal under gunicorn (and a Celery worker), in its own data folder, and a small web
server: what the live and browser tests run against (fixtures in tests/conftest.py)."""
import http.server
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url, *, timeout=30, process=None):
    """The first answer of a server that is starting (a busy machine may take seconds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            return requests.get(url, timeout=10)
        except (requests.ConnectionError, requests.Timeout):
            time.sleep(0.2)
    raise TimeoutError(url)


class ManageCommands:
    """`manage.py` commands run with the process environment `self.env`."""

    env = None

    def manage(self, *args):
        result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        return result.stdout

    def token(self, username, *extra):
        return self.manage("create_token", username, *extra).strip().splitlines()[-1]


class Portal(ManageCommands):
    def __init__(self, data_dir, env):
        self.data_dir = data_dir
        self.env = env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = None

    def start(self, workers=2):
        # The logs go to files under the data folder: an unread pipe would block a chatty
        # process, and tests read them (a request's id on the web's and the worker's lines).
        self.process = subprocess.Popen(
            [str(BIN / "gunicorn"), "portal.wsgi", "--bind", f"127.0.0.1:{self.port}",
             "--workers", str(workers), "--worker-class", "gthread", "--threads", "4"],
            cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=self._log("gunicorn"))
        wait_for(self.url + "/admin/login/", process=self.process)

        self.worker = subprocess.Popen(
            [str(BIN / "celery"), "-A", "portal", "worker", "--concurrency", "2",
             "--loglevel", "WARNING"], cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL,
            stderr=self._log("celery"))

    def log(self, name):
        """What the process `name` (gunicorn, celery) has logged so far."""
        return (self.data_dir / f"{name}.log").read_text(errors="replace")

    def _log(self, name):
        return open(self.data_dir / f"{name}.log", "ab")

    def stop(self):
        for process in (self.process, getattr(self, "worker", None)):
            if process and process.poll() is None:
                process.terminate()
                process.wait(30)


class CountingServer(http.server.ThreadingHTTPServer):
    """Serves files from a folder, `/redirect?to=URL` as a 302, and counts connections."""

    daemon_threads = True

    def __init__(self, root):
        self.root = root
        self.connections = 0
        handler = type("Handler", (WebHandler,), {})
        super().__init__(("127.0.0.1", 0), handler)

    def get_request(self):
        request = super().get_request()
        self.connections += 1
        return request

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"


class WebHandler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, directory=str(args[2].root), **kwargs)

    def do_GET(self):
        if self.path.startswith("/redirect?to="):
            self.send_response(302)
            self.send_header("Location", self.path.split("=", 1)[1])
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, *args):
        pass


def serve(root):
    server = CountingServer(root)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


PORTAL_TOML = """
default_store = "file"

[stores.file]
backend = "file"
description = "Local disk"
root = "{data}/images/file"
weight = 100

[stores.cheap]
backend = "file"
description = "Second disk"
root = "{data}/images/cheap"
weight = 50

[stores.swift]
backend = "swift"
description = "Swift"
auth_url = "{env[SWIFT_AUTH_URL]}"
user = "{env[SWIFT_USER]}"
key = "{env[SWIFT_KEY]}"
container = "{bucket}"
reference = "ref1"
weight = 20

[stores.s3]
backend = "s3"
description = "S3"
endpoint_url = "{env[S3_ENDPOINT_URL]}"
access_key = "{env[S3_ACCESS_KEY]}"
secret_key = "{env[S3_SECRET_KEY]}"
bucket = "{bucket}-s3"                  # not the Swift container: stores are apart
region = "{env[S3_REGION]}"
chunk_size = 5242880
weight = 10

[web_download]
allowed_hosts = ["127.0.0.1:{web_port}"]
"""


CLEAN_STORES = """
from stores.registry import get_store
for name in ("swift", "s3"):
    store = get_store(name)
    for key in list(store.keys()):
        store.delete(store.uri_for(key))
"""
