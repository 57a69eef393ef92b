"""A portal on three machines, played by three folders on this one: web nodes A and B
(gunicorn, no worker) and worker node C (a Celery worker, no web server). Each has its own
data folder, temporary folder and home, so nothing passes between them through a local disk;
they share one PostgreSQL database, one Redis queue and one Swift, and read the same TOML."""
import os
import subprocess

from tests.live.server import BIN, ROOT, ManageCommands, free_port, wait_for

# Three Swift stores in containers of their own: images go to `swift`, copies to `swift2`,
# and glance-direct data waits in `staging` until a worker imports it.
CLUSTER_TOML = """
default_store = "swift"
staging_store = "staging"
# Project members copy their images (alice's copy-image test); copies count in their quota.
copy_image = "owner"

[stores.swift]
backend = "swift"
description = "Swift, first cluster"
auth_url = "{env[SWIFT_AUTH_URL]}"
user = "{env[SWIFT_USER]}"
key = "{env[SWIFT_KEY]}"
container = "{prefix}"
reference = "ref1"
weight = 20

[stores.swift2]
backend = "swift"
description = "Swift, second cluster"
auth_url = "{env[SWIFT_AUTH_URL]}"
user = "{env[SWIFT_USER]}"
key = "{env[SWIFT_KEY]}"
container = "{prefix}-2"
reference = "ref2"
weight = 10

[stores.staging]
backend = "swift"
description = "Staging for glance-direct"
auth_url = "{env[SWIFT_AUTH_URL]}"
user = "{env[SWIFT_USER]}"
key = "{env[SWIFT_KEY]}"
container = "{prefix}-staging"
reference = "staging"
weight = 0

[oslo_policy]
# The operator lets project members remove their images' copies from a store (Glance's
# default policy: admins only), as alice's copy test does.
policy_file = "{policy}"
"""
CONTAINERS = ("{prefix}", "{prefix}-2", "{prefix}-staging")
# gunicorn's access log with the request id the portal answers with: which node served
# the request that created a task.
ACCESS_LOG_FORMAT = '%(r)s %(s)s %({x-openstack-request-id}o)s'


class Node(ManageCommands):
    """One machine: a folder with its data dir, temp dir, home, copy of the TOML and logs."""

    def __init__(self, name, root, env, config_text):
        self.name = name
        self.root = root
        self.data_dir = root / "data"
        tmp, home = root / "tmp", root / "home"
        for folder in (self.data_dir, tmp, home):
            folder.mkdir(parents=True)
        config = root / "portal.toml"
        config.write_text(config_text)
        # A home of its own too: gunicorn puts its control socket there.
        self.env = {**env, "PORTAL_DATA_DIR": str(self.data_dir), "PORTAL_CONFIG": str(config),
                    "TMPDIR": str(tmp), "HOME": str(home)}
        self.log = root / "node.log"
        self.access_log = root / "access.log"
        self.url = None
        self.process = None

    def serve(self):
        """gunicorn only, as on a web node behind a load balancer."""
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.process = self._spawn(
            BIN / "gunicorn", "portal.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "2",
            "--worker-class", "gthread", "--threads", "4", "--access-logfile",
            str(self.access_log), "--access-logformat", ACCESS_LOG_FORMAT)
        return self

    def work(self):
        """A Celery worker only, named after the node."""
        self.process = self._spawn(BIN / "celery", "-A", "portal", "worker", "--hostname",
                                   f"{self.name}@%h", "--concurrency", "2", "--loglevel",
                                   "INFO")
        return self

    def _spawn(self, *command):
        with open(self.log, "ab") as log:
            return subprocess.Popen([str(part) for part in command], cwd=ROOT, env=self.env,
                                    stdout=log, stderr=subprocess.STDOUT)

    def wait_ready(self):
        if self.url:
            wait_for(self.url + "/versions", timeout=60, process=self.process)

    def log_text(self):
        return self.log.read_text(errors="replace")

    def access_log_text(self):
        return self.access_log.read_text() if self.access_log.exists() else ""

    def files(self):
        """Every file the node wrote, its logs aside."""
        logs = {self.log, self.access_log}
        return [path for path in self.root.rglob("*") if path.is_file() and path not in logs]

    def stop(self):
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def node_env():
    """This test run's environment without anything that configures a portal."""
    return {key: value for key, value in os.environ.items()
            if not key.startswith(("PORTAL_", "CELERY_", "OS_"))
            and key not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE",
                            "DJANGO_SUPERUSER_PASSWORD")}
