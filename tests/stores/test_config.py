import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from stores import config

ROOT = Path(__file__).resolve().parents[2]


def parse(text, environ=None, tmp_path=Path("/tmp")):
    import tomllib

    return config.parse(tomllib.loads(text), environ=environ or {}, base_dir=tmp_path)


def test_a_full_config_gives_every_store_with_its_options():
    result = parse("""
        default_store = "file"
        [stores.file]
        backend = "file"
        description = "Fast disk"
        root = "/srv/images"
        weight = 100
        [stores.swift]
        backend = "swift"
        auth_url = "http://127.0.0.1:8080/auth/v1.0"
        user = "test:tester"
        key = "${SWIFT_KEY}"
        container = "glance"
        reference = "ref1"
        [stores.s3]
        backend = "s3"
        endpoint_url = "http://127.0.0.1:8080"
        access_key = "a"
        secret_key = "b"
        bucket = "images"
        region = "us-east-1"
        [stores.web]
        backend = "http"
    """, environ={"SWIFT_KEY": "testing"})
    assert result["DEFAULT_STORE"] == "file"
    assert list(result["STORES"]) == ["file", "swift", "s3", "web"]
    assert result["STORES"]["swift"]["OPTIONS"]["key"] == "testing"
    assert result["STORES"]["file"]["OPTIONS"] == {"root": "/srv/images"}
    assert result["STORES"]["file"]["DESCRIPTION"] == "Fast disk"
    assert result["STORES"]["web"]["BACKEND"] == "stores.backends.http.HttpStore"
    assert result["IMAGE_SIZE_CAP"] == 2**40


@pytest.mark.parametrize("text, message", [
    ('[stores.a]\nbackend = "ftp"\n', "store 'a': unknown backend 'ftp'"),
    ('[stores.a]\nroot = "/x"\n', "store 'a': missing option 'backend'"),
    ('[stores.a]\nbackend = "file"\n', "store 'a': missing option 'root'"),
    ('[stores.s]\nbackend = "swift"\nauth_url = "x"\nuser = "u"\n',
     "store 's': missing option 'key'"),
    ('[stores.a]\nbackend = "file"\nroot = "/x"\nrooot = "/y"\n',
     "store 'a': unknown option 'rooot'"),
    ('[stores.a]\nbackend = "file"\nroot = "/a"\ndefault = true\n'
     '[stores.b]\nbackend = "file"\nroot = "/b"\ndefault = true\n', "two default stores: a, b"),
    ('default_store = "b"\n[stores.a]\nbackend = "file"\nroot = "/a"\ndefault = true\n'
     '[stores.b]\nbackend = "file"\nroot = "/b"\n', "two default stores"),
    ('default_store = "c"\n[stores.a]\nbackend = "file"\nroot = "/a"\n',
     "default_store 'c' is not a configured store"),
    ('[stores.a]\nbackend = "file"\nroot = "/a"\n[stores.b]\nbackend = "file"\nroot = "/b"\n',
     "missing option 'default_store'"),
    ('[stores.a]\nbackend = "file"\nroot = "${NOPE}"\n', "environment variable NOPE is not set"),
    ('default_store = "w"\n[stores.w]\nbackend = "http"\n', "read-only"),
    ('[stores.os_glance_staging_store]\nbackend = "file"\nroot = "/a"\n', "invalid store name"),
])
def test_a_bad_config_is_refused_naming_the_store_and_option(text, message):
    with pytest.raises(ImproperlyConfigured) as info:
        parse(text)
    assert message in str(info.value)


def test_relative_file_roots_are_taken_from_the_working_folder(tmp_path):
    result = parse('[stores.a]\nbackend = "file"\nroot = "imgs"\n', tmp_path=tmp_path)
    assert result["STORES"]["a"]["OPTIONS"]["root"] == str(tmp_path / "imgs")


def test_embedded_default_is_two_file_stores_under_the_data_dir(tmp_path):
    result = config.embedded_default(tmp_path)
    assert result["DEFAULT_STORE"] == "file"
    assert {name: spec["OPTIONS"]["root"] for name, spec in result["STORES"].items()} == {
        "file": str(tmp_path / "images" / "file"), "cheap": str(tmp_path / "images" / "cheap")}
    assert (tmp_path / "images" / "cheap").is_dir()


def run_manage(*args, env_extra, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PORTAL_CONFIG")}
    env.update(PORTAL_DATA_DIR=str(tmp_path / "data"), **env_extra)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


def test_a_bad_config_file_stops_start_up_with_its_message(tmp_path):
    cfg = tmp_path / "portal.toml"
    cfg.write_text('default_store = "s"\n[stores.s]\nbackend = "swift"\nauth_url = "x"\n'
                   'user = "u"\n')
    result = run_manage("check", env_extra={"PORTAL_CONFIG": str(cfg)}, tmp_path=tmp_path)
    assert result.returncode != 0
    assert "store 's': missing option 'key' for backend 'swift'" in result.stderr


def test_an_unreachable_swift_is_unhealthy_but_does_not_stop_the_portal(tmp_path):
    cfg = tmp_path / "portal.toml"
    cfg.write_text(f'default_store = "file"\n[stores.file]\nbackend = "file"\n'
                   f'root = "{tmp_path}"\n'
                   '[stores.swift]\nbackend = "swift"\nauth_url = "http://127.0.0.1:9/auth/v1.0"\n'
                   'user = "test:tester"\nkey = "testing"\n')
    env = {"PORTAL_CONFIG": str(cfg)}
    assert run_manage("check", env_extra=env, tmp_path=tmp_path).returncode == 0
    result = run_manage("stores_info", env_extra=env, tmp_path=tmp_path)
    assert result.returncode == 0
    swift_row = next(line for line in result.stdout.splitlines() if line.startswith("| swift"))
    assert "UNHEALTHY" in swift_row
    file_row = next(line for line in result.stdout.splitlines() if line.startswith("| file"))
    assert "| ok " in file_row


def test_a_store_smaller_than_the_size_cap_is_warned_about_at_start_up(settings):
    from stores.checks import check_stores

    settings.STORES = {"s3": {"BACKEND": "stores.backends.s3.S3Store",
                              "OPTIONS": {"bucket": "b", "endpoint_url": "http://127.0.0.1:9",
                                          "chunk_size": 5 * 2**20}}}
    settings.DEFAULT_STORE = "s3"
    settings.IMAGE_SIZE_CAP = 2**40
    (warning,) = check_stores()
    assert warning.id == "stores.W001" and "'s3'" in warning.msg
    settings.IMAGE_SIZE_CAP = 5 * 2**20 * 10_000
    assert check_stores() == []
