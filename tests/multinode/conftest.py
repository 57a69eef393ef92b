"""The three-node portal (tests/multinode/cluster.py) on a fresh PostgreSQL database, a Redis
database of its own and fresh Swift containers, all removed after the module."""
import os
import secrets
import uuid
from types import SimpleNamespace
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.multinode.cluster import CLUSTER_TOML, CONTAINERS, Node, node_env

# The server whose database the fresh one is created next to (make test's PostgreSQL).
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL") or "postgres://postgres@127.0.0.1:5432/portal"
# Redis database 0 is the other live tests' broker; this one is the multinode test's own and
# is emptied after.
REDIS_URL = "redis://127.0.0.1:6379/2"


@pytest.fixture(scope="module")
def postgres_database():
    """The URL of a PostgreSQL database created for the module and dropped after it."""
    import psycopg

    name = f"multinode_{uuid.uuid4().hex[:12]}"
    server = urlsplit(POSTGRES_URL)
    admin_url = urlunsplit(server._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield urlunsplit(server._replace(path=f"/{name}"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def redis_broker():
    import redis

    yield REDIS_URL
    redis.Redis.from_url(REDIS_URL).flushdb()


@pytest.fixture(scope="module")
def swift_containers(swift_env):
    """Names of the three stores' containers; they and everything in them go after."""
    from swiftclient import Connection

    from tests.swift_containers import remove_with_segments

    prefix = f"mn{uuid.uuid4().hex[:10]}"
    names = [name.format(prefix=prefix) for name in CONTAINERS]
    yield prefix, names
    conn = Connection(authurl=swift_env["SWIFT_AUTH_URL"], user=swift_env["SWIFT_USER"],
                      key=swift_env["SWIFT_KEY"], retries=0)
    remove_with_segments(conn, *names)
    conn.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, swift_env, swift_containers, postgres_database, redis_broker):
    """Web nodes `a` and `b` and worker node `c`, started; `alice` is a project member's
    token, `password` the admin's."""
    prefix, containers = swift_containers
    root = tmp_path_factory.mktemp("cluster")
    password = secrets.token_urlsafe(12)
    shared = {**node_env(), "DATABASE_URL": postgres_database,
              "CELERY_BROKER_URL": redis_broker, "PORTAL_QUEUE": f"multinode-{prefix}",
              "PORTAL_SECRET_KEY": secrets.token_urlsafe(50),
              "DJANGO_SUPERUSER_PASSWORD": password}
    policy = root / "policy.yaml"
    policy.write_text('"delete_image_location": "rule:context_is_admin or '
                      '(role:member and project_id:%(project_id)s)"\n')
    config = CLUSTER_TOML.format(env=swift_env, prefix=prefix, policy=policy)
    a, b, c = (Node(name, root / name, shared, config) for name in ("a", "b", "c"))
    a.manage("migrate", "--noinput", "-v0")
    a.manage("ensure_admin")
    alice = a.token("alice", "--project", "alice-project")
    nodes = [a.serve(), b.serve(), c.work()]
    try:
        for node in nodes:
            node.wait_ready()
        yield SimpleNamespace(a=a, b=b, c=c, nodes=nodes, alice=alice, password=password,
                              containers=dict(zip(("swift", "swift2", "staging"), containers)),
                              home=root / "glance-home")
    finally:
        for node in nodes:
            node.stop()
