"""An existing Glance database as the read-only `glance` alias, and import_glance_db.

Driven as a user would: `manage.py` in a subprocess, the portal on its own SQLite file in a
temporary data dir, the Glance database given by GLANCE_DATABASE_URL. The Glance database is
a real one (tests/data/glance-db, made by Glance 33): tests use a copy, or load its MariaDB dump.
"""
import hashlib
import os
import shutil
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GLANCE_DB = ROOT / "tests" / "data" / "glance-db"
TABLES = ("images", "image_properties", "image_tags", "image_members", "image_locations")
COPIED_BOTH = "92e430df-315d-4a85-a137-90e6d21b6fa3"
MARIADB = ["mariadb", "-h", "127.0.0.1", "-P", "3306", "-u", "root"]


def portal_env(tmp_path, glance_url):
    """The environment of a portal on its own SQLite whose `glance` alias is `glance_url`."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "PORTAL_CONFIG")}
    env.update(PORTAL_DATA_DIR=str(tmp_path / "data"), GLANCE_DATABASE_URL=glance_url)
    return env


def manage(env, *args, ok=True):
    proc = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


def portal_rows(env):
    """Every row of the five image tables in the portal's database, as text."""
    with sqlite3.connect(Path(env["PORTAL_DATA_DIR"]) / "portal.sqlite3") as db:
        return {t: db.execute(f"select * from {t} order by id").fetchall() for t in TABLES}


def glance_rows():
    """The shared Glance database's rows: what every import must reproduce."""
    with sqlite3.connect(f"file:{GLANCE_DB / 'glance.sqlite'}?mode=ro", uri=True) as db:
        images = db.execute("select id, status, checksum, os_hash_value, deleted from images"
                            " order by id").fetchall()
        locations = db.execute("select image_id, value, status, deleted from image_locations"
                               " order by id").fetchall()
    return images, locations


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_import_round_trip(env, glance_state):
    """Dry run writes nothing, the import copies every row, a second import changes nothing,
    and `glance_state()` (the Glance database's fingerprint) never changes."""
    before = glance_state()
    manage(env, "migrate", "-v0")
    assert glance_state() == before

    dry = manage(env, "import_glance_db", "--dry-run").stdout
    assert "| images           | 9   | 0       | 0         |" in dry
    assert "nothing was written" in dry
    assert all(rows == [] for rows in portal_rows(env).values())
    assert glance_state() == before

    first = manage(env, "import_glance_db").stdout
    assert "32 rows changed" in first
    rows = portal_rows(env)
    assert {t: len(r) for t, r in rows.items()} == {
        "images": 9, "image_properties": 9, "image_tags": 3, "image_members": 1,
        "image_locations": 10}
    assert glance_state() == before

    images, locations = glance_rows()
    with sqlite3.connect(Path(env["PORTAL_DATA_DIR"]) / "portal.sqlite3") as db:
        assert db.execute("select id, status, checksum, os_hash_value, deleted from images"
                          " order by id").fetchall() == images
        assert db.execute("select image_id, value, status, deleted from image_locations"
                          " order by id").fetchall() == locations
        assert db.execute("select status, can_share from image_members").fetchall() == [
            ("pending", 0)]

    second = manage(env, "import_glance_db").stdout
    assert "0 rows changed" in second
    assert "| image_locations  | 0   | 0       | 10        |" in second
    assert portal_rows(env) == rows
    assert glance_state() == before

    # The seed's query, on the portal's database after the import and on Glance's own.
    expected = (f"file:///var/lib/glance/images/fast/{COPIED_BOTH}\n"
                f"file:///var/lib/glance/images/cheap/{COPIED_BOTH}\n")
    assert manage(env, "glance_sql", COPIED_BOTH, "--database", "default").stdout == expected
    assert manage(env, "glance_sql", COPIED_BOTH).stdout == expected
    assert manage(env, "image_locations", COPIED_BOTH).stdout == expected
    assert "e41928ba930201e434bbbe53b7825bdf" in manage(env, "image_show", COPIED_BOTH).stdout
    assert glance_state() == before


WRITES = {
    "update": 'Image.all_objects.using("glance").filter(name="raw-fast").update(name="x")',
    "save": 'i = Image.all_objects.using("glance").get(name="raw-fast"); i.name = "x"; i.save()',
    "delete": 'Image.all_objects.using("glance").get(name="raw-fast").locations.first().delete()',
    "raw_sql": 'connections["glance"].cursor().execute("delete from image_tags")',
}


def assert_writes_to_glance_fail(env, glance_state):
    before = glance_state()
    for what, code in WRITES.items():
        proc = manage(env, "shell", "-c",
                      f"from django.db import connections\n"
                      f"from images.models import Image\n{code}", ok=False)
        assert proc.returncode != 0, what
        assert ("READ ONLY" in proc.stderr or "readonly database" in proc.stderr
                or "GlanceReadOnlyError" in proc.stderr), (what, proc.stderr)
        assert glance_state() == before, what


def test_sqlite_glance_is_imported_idempotently_and_never_written(tmp_path):
    copy = tmp_path / "glance.sqlite"
    shutil.copyfile(GLANCE_DB / "glance.sqlite", copy)
    env = portal_env(tmp_path, f"sqlite:///{copy}")

    assert_import_round_trip(env, lambda: sha256(copy))
    assert_writes_to_glance_fail(env, lambda: sha256(copy))
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("glance.sqlite")) \
        == ["glance.sqlite"]                   # no journal left behind: nothing wrote


def _mariadb(*args, stdin=None):
    return subprocess.run([*MARIADB, *args], stdin=stdin, capture_output=True, text=True,
                          timeout=60)


@pytest.fixture
def mariadb_glance():
    """A MariaDB database loaded from glance-mysql.sql, dropped afterwards."""
    if shutil.which("mariadb") is None or _mariadb("-e", "select 1").returncode != 0:
        pytest.skip("no MariaDB server on 127.0.0.1:3306 (root, no password)")
    name = f"glance_t{uuid.uuid4().hex[:12]}"
    assert _mariadb("-e", f"create database {name}").returncode == 0
    try:
        with open(GLANCE_DB / "glance-mysql.sql") as dump:
            proc = _mariadb(name, stdin=dump)
        assert proc.returncode == 0, proc.stderr
        yield name
    finally:
        _mariadb("-e", f"drop database if exists {name}")


def test_mariadb_glance_is_imported_idempotently_and_never_written(tmp_path, mariadb_glance):
    env = portal_env(tmp_path, f"mysql://root@127.0.0.1:3306/{mariadb_glance}")

    def glance_state():
        counts = _mariadb(mariadb_glance, "-N", "-e", " union all ".join(
            f"select '{t}', count(*) from {t}" for t in TABLES)).stdout
        sums = _mariadb(mariadb_glance, "-N", "-e",
                        f"checksum table {', '.join(TABLES)}, alembic_version").stdout
        return counts, sums

    assert "images\t9\n" in glance_state()[0]
    assert_import_round_trip(env, glance_state)
    assert_writes_to_glance_fail(env, glance_state)


@pytest.mark.parametrize("url, name, options", [
    ("sqlite:////srv/glance/glance.sqlite", "file:/srv/glance/glance.sqlite?mode=ro",
     {"uri": True}),
    ("sqlite:////srv/my glance/g.sqlite", "file:/srv/my%20glance/g.sqlite?mode=ro",
     {"uri": True}),
    ("mysql://glance:pw@db:3306/glance", "glance",
     {"init_command": "SET SESSION TRANSACTION READ ONLY"}),
    ("postgres://glance:pw@db/glance", "glance",
     {"options": "-c default_transaction_read_only=on"}),
])
def test_glance_database_opens_every_engine_read_only(url, name, options):
    from portal.routers import glance_database

    config = glance_database(url)
    assert config["NAME"] == name
    assert config["OPTIONS"] == options


def test_router_never_routes_a_write_or_a_migration_to_glance():
    from images.models import Image
    from portal.routers import GlanceReadOnlyError, GlanceRouter

    router = GlanceRouter()
    image = Image(id="x")
    image._state.db = "glance"
    with pytest.raises(GlanceReadOnlyError):
        router.db_for_write(Image, instance=image)
    assert router.db_for_read(Image, instance=image) == "glance"
    image._state.db = "default"
    assert router.db_for_write(Image, instance=image) == "default"
    assert router.db_for_write(Image) == "default"
    assert router.allow_migrate("glance", "images") is False
    assert router.allow_migrate("default", "images") is None
    other = Image(id="y")
    other._state.db = "glance"
    assert router.allow_relation(image, other) is False
    image._state.db = "glance"
    assert router.allow_relation(image, other) is True


def glance_portal(tmp_path, *, settings="", mtime=None, extra=(), stores=""):
    """A copy of the Glance database and its image files (plus `extra` files: (store, name,
    bytes)), with a portal whose stores `fast` and `cheap` hold those files and name the
    folders Glance wrote in its locations. `mtime` ages every file; `settings` are more
    top-level TOML lines, `stores` more store tables. Returns (copy, env)."""
    copy = tmp_path / "glance"
    shutil.copytree(GLANCE_DB, copy)
    for store, name, data in extra:
        (copy / "images" / store / name).write_bytes(data)
    for path in copy.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
        if mtime is not None:
            os.utime(path, (mtime, mtime))
    config = tmp_path / "portal.toml"
    config.write_text('default_store = "fast"\n' + settings + "".join(
        f'[stores.{name}]\nbackend = "file"\nroot = "{copy / "images" / name}"\n'
        f'location_root = "/var/lib/glance/images/{name}"\n' for name in ("fast", "cheap"))
        + stores)
    env = portal_env(tmp_path, f"sqlite:///{copy / 'glance.sqlite'}")
    env["PORTAL_CONFIG"] = str(config)
    manage(env, "migrate", "--noinput", "-v0")
    return copy, env


@pytest.fixture
def glance_copy(tmp_path):
    return glance_portal(tmp_path)


def audit(env, *args):
    import json

    proc = manage(env, "audit_locations", "--database", "glance", "--format", "json", *args,
                  ok=False)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, {(f["image_id"], f["store"]): f["finding"]
                             for f in json.loads(proc.stdout)}


def test_auditing_an_intact_glance_database_finds_every_location_ok(glance_copy):
    copy, env = glance_copy
    before = sha256(copy / "glance.sqlite")
    status, findings = audit(env, "--deep")
    assert status == 0
    assert len(findings) == 8 and set(findings.values()) == {"ok"}
    assert sha256(copy / "glance.sqlite") == before


def test_auditing_a_damaged_copy_names_each_problem(glance_copy):
    copy, env = glance_copy
    images = copy / "images"
    (images / "fast" / "3aa2181a-dd1a-45bb-b7ac-726d1614e417").unlink()        # removed
    truncated = images / "cheap" / "f26f770c-e1b3-4008-9244-293bd7105685"
    truncated.write_bytes(truncated.read_bytes()[:-1])                          # truncated
    flipped = images / "fast" / "15b50981-e48a-43e3-a1e0-3d73e291974a"
    data = bytearray(flipped.read_bytes())
    data[1000] ^= 0xFF
    flipped.write_bytes(bytes(data))                                            # flipped byte
    (images / "cheap" / "stray-object").write_bytes(b"nobody's")               # stray file
    before = sha256(copy / "glance.sqlite")
    status, shallow = audit(env)
    assert status == 1
    assert shallow[("3aa2181a-dd1a-45bb-b7ac-726d1614e417", "fast")] == "missing"
    assert shallow[("f26f770c-e1b3-4008-9244-293bd7105685", "cheap")] == "size_mismatch"
    assert shallow[("15b50981-e48a-43e3-a1e0-3d73e291974a", "fast")] == "ok"
    assert shallow[(None, "cheap")] == "foreign"
    _, deep = audit(env, "--deep")
    assert deep[("15b50981-e48a-43e3-a1e0-3d73e291974a", "fast")] == "checksum_mismatch"
    assert deep[("92e430df-315d-4a85-a137-90e6d21b6fa3", "cheap")] == "ok"
    assert sha256(copy / "glance.sqlite") == before


PAGES = """
from django.contrib.auth import get_user_model
from django.test import Client
from django.test.utils import setup_test_environment
setup_test_environment()
client = Client()
client.force_login(get_user_model().objects.get(username="auditor"))
for url in ("/images/?db=glance", "/images/?db=glance&store=cheap",
            "/images/92e430df-315d-4a85-a137-90e6d21b6fa3/?db=glance", "/images/",
            "/admin/images/glanceimage/?visibility__exact=public",
            "/admin/images/glanceimage/92e430df-315d-4a85-a137-90e6d21b6fa3/change/"):
    response = client.get(url)
    print("PAGE", url, response.status_code, len(response.content))
    print(response.content.decode())
"""


def test_the_portal_shows_the_glance_database_beside_its_own(glance_copy):
    copy, env = glance_copy
    manage(env, "create_token", "auditor", "--admin")
    before = sha256(copy / "glance.sqlite")
    out = manage(env, "shell", "-c", PAGES).stdout
    pages = {chunk.split()[0]: chunk for chunk in out.split("PAGE ")[1:]}
    glance_list = pages["/images/?db=glance"]
    assert " 200 " in glance_list.splitlines()[0]
    assert "Glance database, read-only" in glance_list
    for name in ("file-cirros", "copied-both", "tagged-props", "shared-with-member"):
        assert name in glance_list
    cheap_only = pages["/images/?db=glance&store=cheap"]
    assert "copied-both" in cheap_only and "raw-fast" not in cheap_only
    detail = pages["/images/92e430df-315d-4a85-a137-90e6d21b6fa3/?db=glance"]
    assert "file:///var/lib/glance/images/fast/92e430df" in detail
    assert "file:///var/lib/glance/images/cheap/92e430df" in detail
    assert 'id="copy-form"' not in detail and 'id="delete-image"' not in detail
    assert "copied-both" not in pages["/images/"]  # the portal's own database is empty
    admin_list = pages["/admin/images/glanceimage/?visibility__exact=public"]
    assert "file-cirros" in admin_list and "tagged-props" in admin_list
    assert "raw-fast" not in admin_list  # private: filtered out
    admin_detail = pages["/admin/images/glanceimage/92e430df-315d-4a85-a137-90e6d21b6fa3/change/"]
    assert " 200 " in admin_detail.splitlines()[0]
    assert "file:///var/lib/glance/images/cheap/92e430df" in admin_detail
    assert sha256(copy / "glance.sqlite") == before
