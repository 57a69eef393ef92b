"""A real Keystone (scripts/keystone-aio) and the portal configured to take its tokens.

The Keystone of `scripts/keystone-aio env` is used when it is running; otherwise one is
started for the session under pytest's temporary folder, on a free port, and stopped after.
"""
import os
import subprocess
from pathlib import Path

import pytest
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from tests.live.server import ROOT, free_port

SCRIPT = ROOT / "scripts" / "keystone-aio"


def _env_of(environ):
    out = subprocess.run(["bash", str(SCRIPT), "env"], env=environ, capture_output=True,
                         text=True, check=True).stdout
    values = {}
    for line in out.splitlines():
        if line.startswith("export "):
            key, _, value = line[len("export "):].partition("=")
            values[key] = value.strip("'\"")
    return values


# Run in Keystone's own venv, with its configuration and keys: a token exactly as Keystone
# makes one, with the expiry asked for (Keystone issues no expired token on request).
EXPIRED_TOKEN = """
import sys
import keystone.conf
from keystone.token import token_formatters
conf, user_id, project_id, expires_at = sys.argv[1:5]
keystone.conf.configure()
keystone.conf.CONF([], project="keystone", default_config_files=[conf])
keystone.conf.auth.setup_authentication()
print(token_formatters.TokenFormatter().create_token(
    user_id, expires_at, ["ZXhwaXJlZC1hdWRpdC1pZA"],
    token_formatters.ProjectScopedPayload, methods=["password"], project_id=project_id))
"""


class Keystone:
    def __init__(self, values, environ):
        self.values = values
        self.url = values["KEYSTONE_URL"]
        self.environ = environ
        self.state_dir = Path(environ.get("KEYSTONE_AIO_DIR") or "/tmp/keystone-aio")
        self.venv = Path(environ.get("KEYSTONE_AIO_VENV") or ROOT / ".venv-keystone")

    def point_image_endpoint(self, url):
        """Make `url` the image service's endpoints in the catalog."""
        result = subprocess.run(["bash", str(SCRIPT), "endpoint", url], env=self.environ,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr[-2000:]

    def token_expiring(self, username, *, project, expires_at):
        session = self.session(username, project=project)
        result = subprocess.run(
            [str(self.venv / "bin" / "python"), "-c", EXPIRED_TOKEN,
             str(self.state_dir / "etc" / "keystone.conf"), session.get_user_id(),
             session.get_project_id(), expires_at], capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr[-2000:]
        return result.stdout.strip().splitlines()[-1]

    def session(self, username, password=None, *, project=None, system_scope=None,
                unscoped=False):
        password = password or self.password_of(username)
        auth = v3.Password(auth_url=self.url + "/v3", username=username, password=password,
                           user_domain_name="Default", project_name=project,
                           project_domain_name="Default" if project else None,
                           system_scope=system_scope, unscoped=unscoped)
        return ks_session.Session(auth=auth)

    def token(self, username, *, project=None, **scope):
        return self.session(username, project=project, **scope).get_token()

    def project_id(self, username, project):
        return self.session(username, project=project).get_project_id()

    def password_of(self, username):
        v = self.values
        return {"admin": v["KEYSTONE_ADMIN_PASSWORD"],
                v["KEYSTONE_SERVICE_USER"]: v["KEYSTONE_SERVICE_PASSWORD"]}.get(
                    username, v["KEYSTONE_DEMO_PASSWORD"])

    def authtoken(self, **overrides):
        """[keystone_authtoken] as the configuration gives it (keystonemiddleware's names)."""
        v = self.values
        return {"www_authenticate_uri": self.url, "auth_url": self.url,
                "auth_type": "password", "username": v["KEYSTONE_SERVICE_USER"],
                "password": v["KEYSTONE_SERVICE_PASSWORD"],
                "project_name": v["KEYSTONE_SERVICE_PROJECT"], "user_domain_name": "Default",
                "project_domain_name": "Default", **overrides}


@pytest.fixture(scope="session")
def keystone(tmp_path_factory):
    environ = dict(os.environ)
    if subprocess.run(["bash", str(SCRIPT), "status"], env=environ,
                      capture_output=True).returncode == 0:
        yield Keystone(_env_of(environ), environ)
        return
    environ.update(KEYSTONE_AIO_DIR=str(tmp_path_factory.mktemp("keystone")),
                   KEYSTONE_AIO_PORT=str(free_port()))
    started = subprocess.run(["bash", str(SCRIPT), "start"], env=environ, capture_output=True,
                             text=True, timeout=900)
    assert started.returncode == 0, started.stderr[-3000:]
    try:
        yield Keystone(_env_of(environ), environ)
    finally:
        subprocess.run(["bash", str(SCRIPT), "stop"], env=environ, capture_output=True,
                       timeout=120)


@pytest.fixture
def keystone_api(keystone, settings, file_stores, db):
    """The API taking Keystone tokens (as with [keystone_authtoken] in the configuration),
    through Django's test client: a client built after this fixture loads the middleware."""
    from images import policy

    settings.KEYSTONE_AUTHTOKEN = keystone.authtoken()
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.KeystoneAuthentication"]}
    policy.reset()
    yield keystone
    policy.reset()


@pytest.fixture
def demo_in_alt_demo(keystone):
    """demo gets the member role on alt_demo too (two projects), taken back after; the
    project's id."""
    admin = keystone.session("admin", project="admin")
    url = keystone.url + "/v3"
    project = keystone.project_id("alt_demo", "alt_demo")
    user = keystone.session("demo", project="demo").get_user_id()
    role = admin.get(f"{url}/roles?name=member").json()["roles"][0]["id"]
    grant = f"{url}/projects/{project}/users/{user}/roles/{role}"
    assert admin.put(grant).status_code == 204
    yield project
    admin.delete(grant, raise_exc=False)


@pytest.fixture(scope="module")
def keystone_portal(keystone, tmp_path_factory):
    """A live portal (gunicorn and a Celery worker, its own SQLite) with file stores `file`
    (default) and `cheap`, taking the Keystone fixture's tokens ([keystone_authtoken])."""
    from tests.live.server import Portal

    data_dir = tmp_path_factory.mktemp("keystone-portal")
    lines = ['default_store = "file"']
    for name in ("file", "cheap"):
        (data_dir / "images" / name).mkdir(parents=True)
        lines += [f"[stores.{name}]", 'backend = "file"', f'root = "{data_dir}/images/{name}"']
    lines += ["[keystone_authtoken]",
              *(f'{key} = "{value}"' for key, value in keystone.authtoken().items())]
    config = data_dir / "portal.toml"
    config.write_text("\n".join(lines) + "\n")
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE") and not k.startswith("OS_")}
    env.update(PORTAL_DATA_DIR=str(data_dir), PORTAL_CONFIG=str(config),
               CELERY_BROKER_URL="redis://127.0.0.1:6379/0",
               PORTAL_QUEUE=f"keystone-live{os.getpid()}")
    portal = Portal(data_dir, env)
    portal.manage("migrate", "--noinput", "-v0")
    portal.manage("collectstatic", "--noinput", "-v0")
    portal.start(workers=1)
    yield portal
    portal.stop()
