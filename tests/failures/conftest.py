"""Portals of the failure tests' own: gunicorn and a Celery worker as subprocesses that a test
may stop, kill or cut off from their database and stores, without touching the session's
shared servers (tests/conftest.py: live_portal)."""
import os
import signal
import subprocess
import uuid

import pytest

from tests.live.clients import api_session
from tests.live.server import BIN, ROOT, Portal, wait_for

MiB = 2**20
# A Redis database of their own: a worker here never restores (or takes) another portal's
# unacknowledged tasks.
BROKER = "redis://127.0.0.1:6379/7"

STORES_TOML = """
default_store = "file"

[stores.file]
backend = "file"
description = "Local disk"
root = "{data}/images/file"
weight = 100

[stores.swift]
backend = "swift"
description = "Swift"
auth_url = "{swift_auth_url}"
user = "{env[SWIFT_USER]}"
key = "{env[SWIFT_KEY]}"
container = "{container}"
reference = "ref1"
weight = 20
large_object_size = {large_object_size}
segment_size = {large_object_size}
"""


SETUP = """
from django.core.management import call_command
call_command("migrate", interactive=False, verbosity=0)
call_command("create_token", "admin", "--admin")
"""


class OwnPortal(Portal):
    """A portal whose gunicorn and worker this test owns; their logs go to files under the
    data folder (an unread pipe would block a chatty process)."""

    def start(self, *, workers=2, graceful_timeout=30, worker=True, threads=4):
        self.start_web(workers=workers, graceful_timeout=graceful_timeout, threads=threads)
        if worker:
            self.start_worker()

    def start_web(self, *, workers=2, graceful_timeout=30, threads=4):
        self.process = subprocess.Popen(
            [str(BIN / "gunicorn"), "portal.wsgi", "--bind", f"127.0.0.1:{self.port}",
             "--workers", str(workers), "--worker-class", "gthread", "--threads", str(threads),
             "--graceful-timeout", str(graceful_timeout)],
            cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=self._log("gunicorn"))
        wait_for(self.url + "/admin/login/", process=self.process, timeout=60)

    def start_worker(self):
        self.worker = subprocess.Popen(
            [str(BIN / "celery"), "-A", "portal", "worker", "--concurrency", "1",
             "--loglevel", "INFO", "--without-heartbeat", "--without-gossip",
             "--without-mingle"],
            cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=self._log("celery"))

    def stop(self):
        for process in (self.process, getattr(self, "worker", None)):
            if process and process.poll() is None:
                # SIGQUIT: Celery's cold shutdown; the warm one takes seconds even when idle.
                process.send_signal(signal.SIGQUIT if process is not self.process
                                    else signal.SIGTERM)
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(10)

    def files(self, store="file"):
        """Names of the objects in one of its file stores."""
        return sorted(path.name for path in (self.data_dir / "images" / store).iterdir())


@pytest.fixture
def make_portal(tmp_path_factory, swift_env, swift_container):
    """make_portal(database_url=None, swift_auth_url=None, large_object_size=..., env=None,
    toml="") → a migrated OwnPortal (not started) with an admin session as `.api`; `toml`
    (top-level keys) starts its config file. Every one is stopped after."""
    portals = []

    def make(*, database_url=None, swift_auth_url=None, large_object_size=5 * 2**30,
             env=None, toml=""):
        data_dir = tmp_path_factory.mktemp("own-portal")
        (data_dir / "images" / "file").mkdir(parents=True)
        config = data_dir / "portal.toml"
        config.write_text(toml + STORES_TOML.format(
            data=data_dir, env=swift_env, container=swift_container,
            swift_auth_url=swift_auth_url or swift_env["SWIFT_AUTH_URL"],
            large_object_size=large_object_size))
        env = {**{k: v for k, v in os.environ.items()
                  if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")}, **(env or {})}
        env.update(PORTAL_DATA_DIR=str(data_dir), PORTAL_CONFIG=str(config),
                   CELERY_BROKER_URL=BROKER, PORTAL_QUEUE=f"failures-{uuid.uuid4().hex}")
        if database_url:
            env["DATABASE_URL"] = database_url
        portal = OwnPortal(data_dir, env)
        portals.append(portal)
        # One Django start for both (each costs seconds on a busy machine).
        token = portal.manage("shell", "-c", SETUP).strip().splitlines()[-1]
        portal.api = api_session(portal, token)
        portal.container = swift_container
        return portal

    yield make
    import redis

    broker = redis.Redis.from_url(BROKER)
    for portal in portals:
        portal.api.close()  # no kept-alive connection for gunicorn to linger on
        portal.stop()
        broker.delete(portal.env["PORTAL_QUEUE"])  # what a killed worker left queued


@pytest.fixture
def portal(make_portal):
    """A started portal (gunicorn with 2 workers, one Celery worker) on SQLite."""
    portal = make_portal()
    portal.start(worker=False)
    return portal


@pytest.fixture
def swift_objects(swift, swift_container):
    """swift_objects() → the names of every object in the test's container and its segments
    container (what an upload or a copy left in Swift)."""
    from swiftclient import ClientException

    def listing():
        names = []
        for container in (swift_container, f"{swift_container}_segments"):
            try:
                _, entries = swift.get_container(container, full_listing=True)
            except ClientException as exc:
                if exc.http_status != 404:
                    raise
                continue
            names += [f"{container}/{entry['name']}" for entry in entries]
        return names

    return listing


@pytest.fixture
def postgres_url():
    """A fresh PostgreSQL database of the test's own, dropped after."""
    import psycopg

    url = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/portal")
    server = url.rsplit("/", 1)[0]
    name = f"failures_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield server, name
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def db_relay(postgres_url):
    """A relay between the portal and the test's PostgreSQL database, for the test to cut."""
    from tests.failures.relay import Relay

    server, _ = postgres_url
    host, port = server.rsplit("@", 1)[-1].split(":")
    relay = Relay((host, int(port)))
    yield relay
    relay.close()
