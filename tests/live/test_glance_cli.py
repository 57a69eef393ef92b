"""The `glance` command line (python-glanceclient) against a live portal: stores, uploads into
each store, listing, updates, downloads, copies, store removal, sharing and deletion, checked
byte for byte and hash for hash."""
import json
import os
from urllib.parse import urlparse

import pytest
from botocore.exceptions import ClientError
from swiftclient import ClientException

from tests.live.clients import (copy_into, create_image, digests, glance,
                                http_calls, list_table, property_table, show_image,
                                upload_image, wait_until)

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """The HOME of every glance run: the shell caches the image schema in it."""
    return tmp_path_factory.mktemp("glance-home")


@pytest.fixture
def cli(live_portal, home):
    """Run glance as alice (or as `token`); fails the test on a non-zero exit unless ok=False."""

    def run(*args, token=None, ok=True):
        result = glance(live_portal, token or live_portal.user_token, *args, home=home)
        if ok:
            assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result

    return run


@pytest.fixture
def payload(tmp_path):
    """Random bytes (several 64 KiB client chunks, one S3 part boundary and an odd tail) and the
    file holding them."""
    data = os.urandom(6 * 2**20 + 13)
    path = tmp_path / "image.raw"
    path.write_bytes(data)
    return data, path


def show(cli, image_id, token=None):
    return property_table(cli("image-show", "--max-column-width", "100000", image_id,
                              token=token).stdout)


def create(cli, *args, token=None):
    return property_table(cli("image-create", "--disk-format", "raw", "--container-format",
                              "bare", *args, token=token).stdout)


def locations(live_portal, image_id):
    return live_portal.manage("image_locations", image_id).split()


def download(cli, image_id, path, *args, token=None):
    cli("image-download", image_id, "--file", path, *args, token=token)
    return path.read_bytes()


def assert_digests(shown, data):
    expected = digests(data)
    assert (shown["checksum"], shown["os_hash_algo"], shown["os_hash_value"], shown["size"]) \
        == (expected["checksum"], "sha512", expected["os_hash_value"], str(len(data)))


def test_stores_info_lists_the_four_stores_with_file_as_default(cli):
    table = property_table(cli("stores-info").stdout, joiner=" ")
    stores = json.loads(table["stores"])
    assert [store["id"] for store in stores] == ["file", "cheap", "swift", "s3"]
    assert [store["id"] for store in stores if store.get("default") == "true"] == ["file"]


@pytest.mark.parametrize("store", ["swift", "s3", "cheap"])
def test_image_create_with_store_streams_the_file_into_that_store(
        cli, live_portal, swift_env, payload, tmp_path, store):
    data, path = payload
    created = create(cli, "--name", f"cli-{store}", "--store", store, "--file", path)
    image_id = created["id"]
    assert created["status"] == "active"

    shown = show(cli, image_id)
    assert (shown["status"], shown["stores"], shown["name"]) == ("active", store, f"cli-{store}")
    assert_digests(shown, data)
    expected = {
        "swift": f"swift+config://ref1/{live_portal.bucket}/{image_id}",
        "s3": f"s3://{urlparse(swift_env['S3_ENDPOINT_URL']).netloc}/{live_portal.s3_bucket}/"
              f"{image_id}",
        "cheap": f"file://{live_portal.data_dir}/images/cheap/{image_id}",
    }[store]
    assert locations(live_portal, image_id) == [expected]
    if store == "cheap":
        assert (live_portal.data_dir / "images" / "cheap" / image_id).read_bytes() == data
    assert not (live_portal.data_dir / "images" / "file" / image_id).exists()
    assert download(cli, image_id, tmp_path / "out.raw") == data


def test_image_list_follows_next_across_pages_in_name_order(cli, alice):
    batch = os.urandom(6).hex()
    names = [f"page-{letter}" for letter in "dagcfeb"]
    ids = {create_image(alice, name=name, batch=batch)["id"]: name for name in names}

    result = cli("--debug", "image-list", "--property-filter", f"batch={batch}",
                 "--page-size", "2", "--sort-key", "name", "--sort-dir", "asc")
    rows = list_table(result.stdout)
    assert [row["Name"] for row in rows] == sorted(names)
    assert {row["ID"]: row["Name"] for row in rows} == ids
    pages = [call for call in http_calls(result.stderr) if call[1].startswith("/v2/images?")]
    assert len(pages) == 4, pages  # 2 + 2 + 2 + 1: the short last page has no `next`
    assert all(status == 200 and "limit=2" in path for _, path, status in pages)
    assert all("marker=" in path for _, path, _ in pages[1:])

    rows = list_table(cli("image-list", "--property-filter", f"batch={batch}", "--page-size",
                          "2", "--limit", "5", "--sort-key", "name", "--sort-dir",
                          "desc").stdout)
    assert [row["Name"] for row in rows] == sorted(names, reverse=True)[:5]


def test_image_list_filters_by_property_and_by_tag(cli, alice):
    batch, tag = os.urandom(6).hex(), f"tag-{os.urandom(4).hex()}"
    tagged = {create_image(alice, name=f"tagged-{i}", batch=batch, tags=[tag])["id"]
              for i in range(2)}
    plain = create_image(alice, name="plain", batch=batch)["id"]

    by_tag = list_table(cli("image-list", "--tag", tag).stdout)
    assert {row["ID"] for row in by_tag} == tagged
    by_property = list_table(cli("image-list", "--property-filter", f"batch={batch}").stdout)
    assert {row["ID"] for row in by_property} == tagged | {plain}
    assert list_table(cli("image-list", "--property-filter", f"batch={batch}x").stdout) == []


def test_image_update_renames_sets_and_removes_properties_and_keeps_tags(cli):
    image_id = create(cli, "--name", "before", "--property", "keep=1", "--property",
                      "drop=2")["id"]
    cli("image-tag-update", image_id, "t1")
    cli("image-tag-update", image_id, "t2")
    assert sorted(json.loads(show(cli, image_id)["tags"])) == ["t1", "t2"]

    updated = property_table(cli("image-update", image_id, "--name", "after", "--property",
                                 "k=v", "--remove-property", "drop").stdout)
    assert (updated["name"], updated["k"], updated["keep"]) == ("after", "v", "1")
    assert "drop" not in updated

    cli("image-tag-delete", image_id, "t1")
    shown = show(cli, image_id)
    assert (shown["name"], shown["k"], shown["keep"]) == ("after", "v", "1")
    assert "drop" not in shown
    assert json.loads(shown["tags"]) == ["t2"]


def test_copy_image_import_adds_stores_each_holding_the_same_bytes(
        cli, live_portal, admin, payload, tmp_path):
    data, path = payload
    token = live_portal.admin_token
    image_id = create(cli, "--name", "to-copy", "--file", path, token=token)["id"]

    cli("image-import", image_id, "--import-method", "copy-image", "--stores", "cheap,swift",
        token=token)

    def copied():
        shown = show(cli, image_id, token=token)
        return not shown.get("os_glance_importing_to_stores") and shown

    shown = wait_until(copied, timeout=60, interval=1, message="the copy into cheap and swift")
    assert shown["stores"] == "cheap,file,swift"  # sorted, as Tempest compares it
    assert shown["status"] == "active" and not shown.get("os_glance_failed_import")
    assert_digests(shown, data)
    assert sorted(uri.split(":")[0] for uri in locations(live_portal, image_id)) == \
        ["file", "file", "swift+config"]
    assert (live_portal.data_dir / "images" / "cheap" / image_id).read_bytes() == data
    for store in ("swift", "cheap", "file"):
        assert download(cli, image_id, tmp_path / f"{store}.raw", "--prefer", store,
                        token=token) == data

    tasks = list_table(cli("image-tasks", image_id, token=token).stdout)
    assert [task["Status"] for task in tasks] == ["success"]


def test_stores_delete_removes_one_copy_but_never_the_last(cli, live_portal, admin, swift,
                                                           tmp_path):
    data = os.urandom(300_000)
    image = upload_image(admin, create_image(admin, name="three-copies"), data)
    image_id = image["id"]
    copy_into(admin, image_id, "cheap", "swift")
    token = live_portal.admin_token

    cli("stores-delete", image_id, "--store", "cheap", token=token)
    assert show(cli, image_id, token=token)["stores"] == "file,swift"
    assert not (live_portal.data_dir / "images" / "cheap" / image_id).exists()
    assert [uri.split(":")[0] for uri in locations(live_portal, image_id)] == \
        ["file", "swift+config"]

    cli("stores-delete", image_id, "--store", "swift", token=token)
    with pytest.raises(ClientException) as missing:
        swift.head_object(live_portal.bucket, image_id)
    assert missing.value.http_status == 404

    refused = cli("--debug", "stores-delete", image_id, "--store", "file", token=token,
                  ok=False)
    assert refused.returncode != 0
    assert ("DELETE", f"/v2/stores/file/{image_id}", 403) in http_calls(refused.stderr)
    shown = show(cli, image_id, token=token)
    assert (shown["status"], shown["stores"]) == ("active", "file")
    assert download(cli, image_id, tmp_path / "out.raw", token=token) == data


def test_a_deactivated_image_is_not_downloadable_by_its_owner_until_reactivated(
        cli, live_portal, alice, tmp_path):
    data = os.urandom(200_000)
    image_id = upload_image(alice, create_image(alice, name="deactivate-me"), data)["id"]

    cli("image-deactivate", image_id)
    assert show(cli, image_id)["status"] == "deactivated"
    refused = cli("--debug", "image-download", image_id, "--file", tmp_path / "no.raw",
                  ok=False)
    assert refused.returncode != 0
    assert ("GET", f"/v2/images/{image_id}/file", 403) in http_calls(refused.stderr)
    assert download(cli, image_id, tmp_path / "admin.raw", token=live_portal.admin_token) \
        == data

    cli("image-reactivate", image_id)
    assert show(cli, image_id)["status"] == "active"
    assert download(cli, image_id, tmp_path / "again.raw") == data


def test_members_share_an_image_that_the_member_project_accepts(cli, live_portal, alice,
                                                                 tmp_path):
    bob = live_portal.token("bob", "--project", "bob-project")
    bobs_own = create(cli, "--name", "bobs", token=bob)
    bob_project = bobs_own["owner"]
    data = os.urandom(100_000)
    image_id = upload_image(alice, create_image(alice, name="to-share"), data)["id"]

    created = list_table(cli("member-create", image_id, bob_project).stdout)
    assert [(m["Image ID"], m["Member ID"], m["Status"]) for m in created] == \
        [(image_id, bob_project, "pending")]
    members = list_table(cli("member-list", "--image-id", image_id).stdout)
    assert [(m["Member ID"], m["Status"]) for m in members] == [(bob_project, "pending")]
    assert image_id not in {row["ID"] for row in list_table(
        cli("image-list", token=bob).stdout)}

    updated = list_table(cli("member-update", image_id, bob_project, "accepted",
                             token=bob).stdout)
    assert [m["Status"] for m in updated] == ["accepted"]
    assert image_id in {row["ID"] for row in list_table(cli("image-list", token=bob).stdout)}
    assert download(cli, image_id, tmp_path / "bob.raw", token=bob) == data

    cli("member-delete", image_id, bob_project)
    assert list_table(cli("member-list", "--image-id", image_id).stdout) == []
    gone = cli("--debug", "image-show", image_id, token=bob, ok=False)
    assert gone.returncode != 0
    assert ("GET", f"/v2/images/{image_id}", 404) in http_calls(gone.stderr)
    cli("image-delete", bobs_own["id"], token=bob)


def test_image_create_via_glance_direct_import_lands_in_both_stores(cli, live_portal, alice,
                                                                   payload, tmp_path):
    data, path = payload
    created = property_table(cli(
        "image-create-via-import", "--name", "direct", "--disk-format", "raw",
        "--container-format", "bare", "--import-method", "glance-direct", "--file", path,
        "--stores", "file,cheap").stdout)
    image_id = created["id"]

    def imported():
        image = show_image(alice, image_id)
        return image["status"] == "active" and not image.get(
            "os_glance_importing_to_stores") and image

    wait_until(imported, message="the glance-direct import")
    shown = show(cli, image_id)
    assert set(shown["stores"].split(",")) == {"file", "cheap"}
    assert not shown.get("os_glance_failed_import")
    assert_digests(shown, data)
    for store in ("file", "cheap"):
        assert (live_portal.data_dir / "images" / store / image_id).read_bytes() == data
    assert sorted(locations(live_portal, image_id)) == sorted(
        f"file://{live_portal.data_dir}/images/{store}/{image_id}" for store in ("file", "cheap"))
    assert download(cli, image_id, tmp_path / "out.raw") == data


def test_image_delete_removes_the_image_and_the_data_in_every_store(cli, live_portal, admin,
                                                                    s3, payload):
    data, path = payload
    token = live_portal.admin_token
    image_id = create(cli, "--name", "doomed", "--store", "s3", "--file", path,
                      token=token)["id"]
    copy_into(admin, image_id, "cheap")
    assert s3.head_object(Bucket=live_portal.s3_bucket, Key=image_id)["ContentLength"] == len(data)

    cli("image-delete", image_id, token=token)
    gone = cli("--debug", "image-show", image_id, token=token, ok=False)
    assert gone.returncode != 0
    assert ("GET", f"/v2/images/{image_id}", 404) in http_calls(gone.stderr)
    assert not (live_portal.data_dir / "images" / "cheap" / image_id).exists()
    with pytest.raises(ClientError) as missing:
        s3.head_object(Bucket=live_portal.s3_bucket, Key=image_id)
    assert missing.value.response["Error"]["Code"] in ("404", "NoSuchKey")


def test_errors_print_their_status_line_as_against_glance(cli, tmp_path):
    missing = "8d0a2b4e-0000-4000-8000-000000000000"
    result = cli("image-show", missing, ok=False)
    assert result.returncode != 0
    assert f"HTTP 404 Not Found: No image found with ID {missing}" in result.stderr, result.stderr

    path = tmp_path / "small.raw"
    path.write_bytes(b"x" * 1024)
    image_id = create(cli, "--name", "uploaded-twice", "--file", path)["id"]
    result = cli("image-upload", "--file", path, image_id, ok=False)
    assert result.returncode != 0
    assert "HTTP 409 Conflict: " in result.stderr, result.stderr
