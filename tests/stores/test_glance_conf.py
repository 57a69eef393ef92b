"""An operator's glance-api.conf and glance-swift.conf as PORTAL_CONFIG, and Glance's option
names in the TOML."""
import io
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from stores import config

ROOT = Path(__file__).resolve().parents[2]
OPERATOR = ROOT / "tests" / "data" / "glance-conf"
MiB = 2**20


@pytest.fixture
def glance_conf(tmp_path, swift_env):
    """The operator's two files, copied, with their folders under tmp_path and [ref1] pointed
    at the Swift all-in-one; returns the glance-api.conf path."""
    api = (OPERATOR / "glance-api.conf").read_text()
    api = api.replace("/var/lib/glance/", f"{tmp_path}/glance/")
    api = api.replace("/etc/glance/glance-swift.conf", str(tmp_path / "glance-swift.conf"))
    swift = (OPERATOR / "glance-swift.conf").read_text()
    ref1 = {"auth_address": swift_env["SWIFT_AUTH_URL"], "user": swift_env["SWIFT_USER"],
            "key": swift_env["SWIFT_KEY"]}
    head, _, tail = swift.partition("[ref2]")
    for option, value in ref1.items():
        head = re.sub(rf"(?m)^{option} = .*$", f"{option} = {value}", head)
    (tmp_path / "glance-swift.conf").write_text(head + "[ref2]" + tail)
    for name in ("images/fast", "images/cheap", "staging"):
        (tmp_path / "glance" / name).mkdir(parents=True)
    (tmp_path / "glance-api.conf").write_text(api)
    return tmp_path / "glance-api.conf"


def load(path):
    return config.load(path, environ={}, base_dir=path.parent)


def test_a_glance_api_conf_gives_the_stores_the_toml_would(glance_conf, swift_env, tmp_path):
    toml = tmp_path / "portal.toml"
    toml.write_text(f"""
        default_store = "fast"
        staging_store = "staging"
        [stores.fast]
        backend = "file"
        description = "Fast file store"
        root = "{tmp_path}/glance/images/fast"
        [stores.cheap]
        backend = "file"
        description = "Cheap file store"
        root = "{tmp_path}/glance/images/cheap"
        [stores.swift]
        backend = "swift"
        description = "Swift object storage"
        auth_url = "{swift_env['SWIFT_AUTH_URL']}"
        auth_version = "1"
        user = "{swift_env['SWIFT_USER']}"
        key = "{swift_env['SWIFT_KEY']}"
        reference = "ref1"
        container = "glance"
        large_object_size = {5120 * MiB}
        segment_size = {200 * MiB}
        [stores.staging]
        backend = "file"
        root = "{tmp_path}/glance/staging"
    """.replace("\n        ", "\n"))
    from_glance, from_toml = load(glance_conf), load(toml)
    staging = from_glance["STORES"].pop("os_glance_staging_store")
    assert staging["OPTIONS"] == from_toml["STORES"].pop("staging")["OPTIONS"]
    assert from_glance["STAGING_STORE"] == "os_glance_staging_store"
    assert from_glance["STORES"] == from_toml["STORES"]
    for key in ("DEFAULT_STORE", "IMAGE_SIZE_CAP", "SCRUBBER", "LIMITS", "SCHEDULES"):
        assert from_glance[key] == from_toml[key]


def test_glance_option_names_in_the_toml_mean_what_they_mean_in_glance(glance_conf, tmp_path):
    toml = tmp_path / "portal.toml"
    toml.write_text(f"""
        default_backend = "fast"
        [stores.fast]
        backend = "file"
        store_description = "Fast file store"
        filesystem_store_datadir = "{tmp_path}/glance/images/fast/"
        [stores.cheap]
        backend = "file"
        store_description = "Cheap file store"
        filesystem_store_datadir = "{tmp_path}/glance/images/cheap/"
        [stores.swift]
        backend = "swift"
        store_description = "Swift object storage"
        swift_store_config_file = "glance-swift.conf"
        default_swift_reference = "ref1"
        swift_store_container = "glance"
        swift_store_large_object_size = 5120
        swift_store_large_object_chunk_size = 200
        swift_store_multi_tenant = false
    """.replace("\n        ", "\n"))
    from_toml, from_glance = load(toml), load(glance_conf)
    del from_glance["STORES"]["os_glance_staging_store"]
    assert from_toml["STORES"] == from_glance["STORES"]
    assert from_toml["DEFAULT_STORE"] == "fast"
    assert from_toml["UNSUPPORTED"] == []


def test_swift_large_object_sizes_in_mb_become_bytes(glance_conf):
    options = load(glance_conf)["STORES"]["swift"]["OPTIONS"]
    assert (options["large_object_size"], options["segment_size"]) == (5120 * MiB, 200 * MiB)


def test_a_seed_swift_config_location_resolves_with_the_operators_glance_swift_conf(
        glance_conf, swift, settings):
    from stores.registry import get_store, store_for_uri

    settings.STORES = load(glance_conf)["STORES"]
    image_id = str(uuid.uuid4())
    payload = os.urandom(MiB + 7)
    swift.put_container("glance")
    swift.put_object("glance", image_id, payload)     # as Glance wrote it
    try:
        store = store_for_uri(f"swift+config://ref1/glance/{image_id}")
        assert store.name == "swift"
        assert b"".join(store.open(f"swift+config://ref1/glance/{image_id}")) == payload
        # The credentials stay in glance-swift.conf: a written location names the reference.
        key = f"{image_id}-copy"
        assert get_store("swift").save(key, io.BytesIO(payload)) == \
            f"swift+config://ref1/glance/{key}"
    finally:
        for name in (image_id, f"{image_id}-copy"):
            try:
                swift.delete_object("glance", name)
            except Exception:
                pass


def test_options_the_portal_does_not_use_are_listed_not_dropped(glance_conf):
    unsupported = load(glance_conf)["UNSUPPORTED"]
    assert "[DEFAULT] show_multiple_locations" in unsupported
    assert "[paste_deploy] flavor" in unsupported
    assert "[os_glance_tasks_store] filesystem_store_datadir" in unsupported
    # Read and used, or what the portal always does (128 properties, these import methods):
    for used in ("[DEFAULT] image_size_cap", "[DEFAULT] limit_param_default",
                 "[DEFAULT] enabled_import_methods", "[DEFAULT] image_property_quota",
                 "[swift] swift_store_multi_tenant", "[swift] swift_store_config_file",
                 "[glance_store] default_backend", "[keystone_authtoken] password"):
        assert used not in unsupported


def test_keystone_authtoken_of_a_glance_api_conf_turns_keystone_tokens_on(glance_conf):
    options = load(glance_conf)["KEYSTONE_AUTHTOKEN"]
    assert options["www_authenticate_uri"] == "http://keystone.example.com:5000"
    assert options["auth_type"] == "password"
    assert options["username"] == "glance" and options["project_name"] == "service"


def test_unsupported_options_are_logged_once_at_start_up(glance_conf, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "PORTAL_CONFIG")}
    env.update(PORTAL_DATA_DIR=str(tmp_path / "data"), PORTAL_CONFIG=str(glance_conf))
    result = subprocess.run([sys.executable, "manage.py", "stores_info"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("not supported, ignored") == 1
    assert "[paste_deploy] flavor" in result.stderr
    assert "keystone_authtoken" not in result.stderr
    rows = {line.split("|")[1].strip(): line for line in result.stdout.splitlines()
            if line.startswith("| ")}
    for name in ("fast", "cheap", "swift"):
        assert "| ok " in rows[name]


def test_oslo_config_syntax_is_read_as_glance_reads_it(tmp_path):
    from stores.glance_conf import read_ini

    path = tmp_path / "glance-api.conf"
    path.write_text("[DEFAULT]\n# a comment\n; another\nenabled_backends = a:file,\n"
                    "  b:file\nimage_size_cap = 10\nimage_size_cap = 20\n"
                    "[a]\nstore_description = \"A # not a comment\"\n"
                    "filesystem_store_datadir = /srv/%(a)s\n")
    sections = read_ini(path)
    assert sections["DEFAULT"]["enabled_backends"] == "a:file,\nb:file"
    assert sections["DEFAULT"]["image_size_cap"] == "20"        # the last one wins
    assert sections["a"] == {"store_description": "A # not a comment",
                             "filesystem_store_datadir": "/srv/%(a)s"}


@pytest.mark.parametrize("edit, message", [
    (("fast:file", "fast:rbd"), "backend type 'rbd' is not supported"),
    (("default_swift_reference = ref1", "default_swift_reference = ref9"),
     "reference 'ref9' is not a section of"),
    (("swift_store_large_object_size = 5120", "swift_store_large_object_size = 5G"),
     "swift_store_large_object_size' must be an integer"),
    (("default_backend = fast", "default_backend = slow"),
     "default_store 'slow' is not a configured store"),
])
def test_a_bad_glance_api_conf_is_refused_naming_the_option(glance_conf, edit, message):
    glance_conf.write_text(glance_conf.read_text().replace(*edit))
    with pytest.raises(ImproperlyConfigured) as info:
        load(glance_conf)
    assert message in str(info.value)


def test_a_file_neither_toml_nor_glance_api_conf_is_refused(tmp_path):
    path = tmp_path / "portal.conf"
    path.write_text("[stores]\nthis is = not toml\n")
    with pytest.raises(ImproperlyConfigured, match="neither valid TOML"):
        load(path)


def test_keystone_references_split_project_and_user_as_glance_does(glance_conf, tmp_path):
    glance_conf.write_text(glance_conf.read_text().replace("default_swift_reference = ref1",
                                                           "default_swift_reference = ref2"))
    options = load(glance_conf)["STORES"]["swift"]["OPTIONS"]
    assert options["auth_version"] == "3" and options["user"] == "glance"
    assert options["os_options"] == {"project_name": "service", "tenant_name": "service",
                                     "user_domain_id": "default",
                                     "project_domain_id": "default"}
    assert options["reference"] == "ref2"


def test_a_single_store_glance_api_conf_gives_one_store_named_by_its_type(tmp_path):
    path = tmp_path / "glance-api.conf"
    path.write_text(f"[DEFAULT]\n[glance_store]\nstores = file, http\ndefault_store = file\n"
                    f"filesystem_store_datadir = {tmp_path}/images/\n")
    result = load(path)
    assert result["DEFAULT_STORE"] == "file"
    assert result["STORES"]["file"]["OPTIONS"] == {"root": f"{tmp_path}/images"}
    assert result["UNSUPPORTED"] == ["[glance_store] stores: http"]
