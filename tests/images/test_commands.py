"""The management commands, and the seed story reproduced with them."""
import hashlib
import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from accounts.models import Token
from images.models import Image, ImageLocation
from stores.registry import get_store
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args, stdin=None):
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue()


def table_values(output):
    rows = {}
    for line in output.splitlines():
        if line.startswith("| ") and not line.startswith("| Property"):
            key, value = [cell.strip() for cell in line.strip("|").split("|", 1)]
            rows[key] = value
    return rows


@pytest.fixture
def cirros(disk_images):
    """A real qcow2 image, as the seed story's cirros.img is."""
    return disk_images["qcow2"]


@pytest.fixture
def admin_user(db):
    call_command("create_token", "admin", "--admin", stdout=io.StringIO(), stderr=io.StringIO())
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username="admin")


@pytest.fixture
def seed_stores(settings, tmp_path, swift_env):
    """The seed's two stores: `file` (default) and `swift` with reference ref1, container glance."""
    settings.STORES = {
        "file": {"BACKEND": "stores.backends.file.FileStore",
                 "OPTIONS": {"root": str(tmp_path / "glance-images")}},
        "swift": {"BACKEND": "stores.backends.swift.SwiftStore",
                  "OPTIONS": {"auth_url": swift_env["SWIFT_AUTH_URL"],
                              "user": swift_env["SWIFT_USER"], "key": swift_env["SWIFT_KEY"],
                              "container": "glance", "reference": "ref1"}},
    }
    settings.DEFAULT_STORE = "file"
    (tmp_path / "glance-images").mkdir()
    yield
    swift = get_store("swift")
    for key in list(swift.keys()):
        swift.delete(swift.uri_for(key))


@pytest.mark.swift
@pytest.mark.engines
def test_seed_story_two_images_in_two_stores(seed_stores, admin_user, cirros, tmp_path):
    common = ["--disk-format", "qcow2", "--container-format", "bare", "--visibility", "public",
              "--file", str(cirros)]
    swift_image = table_values(run("image_create", "--store", "swift", "--name", "swift-cirros",
                                   *common))
    file_image = table_values(run("image_create", "--store", "file", "--name", "file-cirros",
                                  *common))
    data = cirros.read_bytes()
    for shown, store in ((swift_image, "swift"), (file_image, "file")):
        assert list(shown)[:18] == ["checksum", "container_format", "created_at", "disk_format",
                                    "id", "min_disk", "min_ram", "name", "owner", "protected",
                                    "size", "status", "updated_at", "virtual_size",
                                    "visibility", "os_hash_algo", "os_hash_value", "stores"]
        assert shown["checksum"] == hashlib.md5(data).hexdigest()
        assert shown["os_hash_value"] == hashlib.sha512(data).hexdigest()
        assert (shown["status"], shown["size"], shown["stores"]) == ("active", str(len(data)),
                                                                    store)
        assert shown["owner"] == admin_user.membership.project_id
    swift_id, file_id = swift_image["id"], file_image["id"]
    assert run("image_locations", file_id).split() == \
        [f"file://{tmp_path}/glance-images/{file_id}"]
    assert run("image_locations", swift_id).split() == [f"swift+config://ref1/glance/{swift_id}"]
    with connection.cursor() as cursor:
        for image_id, command_output in ((file_id, run("image_locations", file_id)),
                                         (swift_id, run("image_locations", swift_id))):
            cursor.execute(f"select value from image_locations where image_id = '{image_id}'")
            assert [row[0] for row in cursor.fetchall()] == command_output.split()
    out = tmp_path / "back.img"
    run("image_download", swift_id, "--file", str(out))
    assert out.read_bytes() == data


def test_image_create_with_an_unknown_store_creates_nothing(file_stores, admin_user, cirros):
    with pytest.raises(CommandError) as info:
        run("image_create", "--store", "nope", "--disk-format", "raw", "--container-format",
            "bare", "--file", str(cirros))
    assert "Unknown store 'nope'; known stores: fast, cheap" in str(info.value)
    assert not Image.all_objects.exists()


def test_image_create_without_data_gives_a_queued_image(file_stores, admin_user):
    shown = table_values(run("image_create", "--name", "empty"))
    assert (shown["status"], shown["size"], shown["checksum"]) == ("queued", "None", "None")


def test_invalid_disk_format_lists_the_allowed_values(file_stores, admin_user):
    with pytest.raises(CommandError) as info:
        run("image_create", "--disk-format", "qcow3")
    assert "qcow2" in str(info.value) and "raw" in str(info.value)


def test_a_failed_upload_leaves_no_image_and_no_data(file_stores, admin_user, tmp_path,
                                                     settings):
    settings.IMAGE_SIZE_CAP = 10
    path = tmp_path / "big.img"
    path.write_bytes(b"x" * 11)
    with pytest.raises(CommandError) as info:
        run("image_create", "--disk-format", "raw", "--container-format", "bare",
            "--file", str(path))
    assert "size cap" in str(info.value)
    assert not Image.objects.exists()
    assert not ImageLocation.all_objects.exists()
    assert list(file_stores["fast"].iterdir()) == []


def test_image_show_and_delete(file_stores, admin_user, cirros):
    image_id = table_values(run("image_create", "--disk-format", "qcow2", "--container-format",
                                "bare", "--file", str(cirros)))["id"]
    assert table_values(run("image_show", image_id))["id"] == image_id
    assert f"Deleted {image_id}" in run("image_delete", image_id)
    assert not (file_stores["fast"] / image_id).exists()
    with pytest.raises(CommandError):
        run("image_show", image_id)


def test_image_locations_all_includes_deleted_rows(file_stores, admin_user, cirros):
    image_id = table_values(run("image_create", "--disk-format", "qcow2", "--container-format",
                                "bare", "--file", str(cirros)))["id"]
    ImageLocation.objects.filter(image_id=image_id).update(deleted=True, status="deleted")
    assert run("image_locations", image_id) == ""
    assert "deleted" in run("image_locations", image_id, "--all", "--long")


def test_stores_info_lists_each_store_with_its_health(file_stores):
    rows = [line for line in run("stores_info").splitlines() if line.startswith("| ")]
    assert rows[1].split("|")[1].strip() == "fast" and "| ok " in rows[1]
    assert rows[2].split("|")[1].strip() == "cheap"


def test_create_token_prints_a_token_alone_on_its_last_line(db):
    out = run("create_token", "alice", "--project", "team-a")
    token = out.strip().splitlines()[-1]
    match = Token.objects.for_secret(token).get()
    assert match.user.username == "alice"
    assert match.user.membership.project.name == "team-a"
    assert token not in {t.digest for t in Token.objects.all()}  # only the digest is kept


def test_db_analyze_gives_sqlite_its_planner_statistics(file_stores, admin_user):
    from django.db import connection

    factories.image(owner="p")
    out = run("db_analyze")
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("select count(*) from sqlite_stat1 where tbl = 'images'")
            assert cursor.fetchone()[0] >= 1
        assert "refreshed" in out
    else:
        assert "nothing to do" in out
