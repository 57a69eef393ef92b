"""The wheel as a new user installs it: built from the checkout, installed with its runtime
dependencies alone (no test extras, no mysqlclient, no compiler) into a fresh venv, and run
from a folder outside the checkout with the `image-portal` command."""
import os
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import requests

from tests.images.test_glance_db import COPIED_BOTH, mariadb_glance  # noqa: F401 (fixture)
from tests.live.server import free_port, wait_for

pytestmark = pytest.mark.live

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ["pyproject.toml", "README.md", "portal", "accounts", "images", "stores", "metadefs"]
PAYLOAD = os.urandom(3 * 2**20 + 17)      # several 1 MiB chunks and an odd tail
MARIADB = ["mariadb", "-h", "127.0.0.1", "-P", "3306", "-u", "root"]
POSTGRES = ["psql", "-h", "127.0.0.1", "-p", "5432", "-U", "postgres", "-q", "-c"]


@pytest.fixture(scope="session")
def installed(tmp_path_factory):
    """The `bin` folder of a fresh venv holding the wheel and the tested set of its dependencies."""
    where = tmp_path_factory.mktemp("package")
    # Built from a copy of what the wheel is made of: setuptools writes build/ and *.egg-info
    # into the folder it builds, and the checkout stays as it was.
    source = where / "source"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name,
                            ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(source),
                    "-w", str(where / "dist")], check=True, capture_output=True)
    wheel = next((where / "dist").glob("image_portal-*.whl"))
    subprocess.run([sys.executable, "-m", "venv", str(where / "venv")], check=True)
    bin_dir = where / "venv" / "bin"
    subprocess.run([str(bin_dir / "python"), "-m", "pip", "install", "-q",
                    "-c", str(ROOT / "constraints.txt"), str(wheel)],
                   check=True, capture_output=True)
    return bin_dir


@pytest.fixture
def user(tmp_path):
    """A user's environment: a home of its own, a working folder outside the checkout, no
    portal variables (so no PORTAL_DATA_DIR: the XDG default applies)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PORTAL_", "DJANGO_", "DATABASE_", "GLANCE_", "CELERY_"))
           and k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(HOME=str(tmp_path / "home"), XDG_DATA_HOME=str(tmp_path / "xdg"))
    (tmp_path / "work").mkdir()
    return env


def image_portal(installed, env, cwd, *args):
    result = subprocess.run([str(installed / "image-portal"), *args], cwd=cwd, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_installed_wheel_migrates_serves_and_round_trips_an_image(installed, user, tmp_path):
    work = tmp_path / "work"
    image_portal(installed, user, work, "migrate", "--noinput", "-v0")
    token = image_portal(installed, user, work, "create_token", "alice").strip().splitlines()[-1]
    port = free_port()
    server = subprocess.Popen([str(installed / "image-portal"), "serve", "--bind",
                               f"127.0.0.1:{port}"], cwd=work, env=user,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        page = wait_for(url + "/accounts/login/", timeout=60, process=server)
        assert page.status_code == 200 and "csrfmiddlewaretoken" in page.text  # a template
        assert requests.get(url + "/static/portal/portal.css", timeout=10).status_code == 200
        api = requests.Session()
        api.headers["X-Auth-Token"] = token
        image = api.post(url + "/v2/images", timeout=10, json={
            "name": "smoke", "disk_format": "raw", "container_format": "bare"}).json()
        stored = api.put(url + f"/v2/images/{image['id']}/file", data=PAYLOAD, timeout=60,
                         headers={"Content-Type": "application/octet-stream"})
        assert stored.status_code == 204, stored.text
        assert api.get(url + f"/v2/images/{image['id']}/file", timeout=60).content == PAYLOAD
    finally:
        server.send_signal(signal.SIGTERM)
        errors = server.communicate(timeout=60)[1]
    assert server.returncode == 0, errors
    data = tmp_path / "xdg" / "image-portal"
    assert (data / "portal.sqlite3").is_file()
    assert (data / "images" / "file" / image["id"]).read_bytes() == PAYLOAD
    assert list(work.iterdir()) == []          # nothing written into the working folder


def test_installed_wheel_needs_no_compiled_mysql_driver(installed):
    # So the MariaDB tests below run on PyMySQL, as a machine without a compiler would.
    result = subprocess.run([str(installed / "python"), "-c", "import MySQLdb"],
                            capture_output=True, text=True)
    assert "No module named 'MySQLdb'" in result.stderr


@pytest.fixture
def mariadb_database():
    name = f"portal_pkg{uuid.uuid4().hex[:10]}"
    if subprocess.run([*MARIADB, "-e", f"create database {name}"]).returncode != 0:
        pytest.skip("no MariaDB server on 127.0.0.1:3306 (root, no password)")
    yield f"mysql+pymysql://root@127.0.0.1:3306/{name}"
    subprocess.run([*MARIADB, "-e", f"drop database if exists {name}"])


@pytest.fixture
def postgresql_database():
    name = f"portal_pkg{uuid.uuid4().hex[:10]}"
    if subprocess.run([*POSTGRES, f"create database {name}"]).returncode != 0:
        pytest.skip("no PostgreSQL server on 127.0.0.1:5432 (postgres, trust)")
    yield f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    subprocess.run([*POSTGRES, f"drop database if exists {name} with (force)"])


@pytest.mark.parametrize("database", ["mariadb_database", "postgresql_database"])
def test_installed_wheel_migrates_mariadb_and_postgresql_given_sqlalchemy_urls(
        installed, user, tmp_path, database, request):
    user["DATABASE_URL"] = request.getfixturevalue(database)
    image_portal(installed, user, tmp_path / "work", "migrate", "--noinput", "-v0")
    assert "[X] 0001_initial" in image_portal(installed, user, tmp_path / "work",
                                              "showmigrations", "images")


def test_installed_wheel_reads_a_glance_mariadb_by_its_glance_api_conf_url(
        installed, user, tmp_path, mariadb_glance):  # noqa: F811 (the imported fixture)
    # As glance-api.conf's [database] connection has it, devstack's plugin query key included.
    user["GLANCE_DATABASE_URL"] = (f"mysql+pymysql://root@127.0.0.1:3306/{mariadb_glance}"
                                   "?charset=utf8&plugin=dbcounter")
    assert image_portal(installed, user, tmp_path / "work", "glance_sql", COPIED_BOTH) == (
        f"file:///var/lib/glance/images/fast/{COPIED_BOTH}\n"
        f"file:///var/lib/glance/images/cheap/{COPIED_BOTH}\n")
