"""What one project sees of another's images over the API: private images do not exist for
others, shared ones only for accepted members, community ones by id, public ones for all; and
where the bytes live is shown to admins only, without credentials."""
import json
import os

import pytest

from tests.live.clients import (OCTET, api_session, assert_error, copy_into, create_image,
                                listed_ids, patch_image, show_image, stored_files,
                                upload_image)

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def bob_token(live_portal):
    return live_portal.token("bob", "--project", "bob-project")


@pytest.fixture
def bob(live_portal, bob_token):
    session = api_session(live_portal, bob_token)
    session.project = show_image(session, create_image(session, name="bob's own")["id"])["owner"]
    return session


def private_image(alice):
    data = os.urandom(50_000)
    return upload_image(alice, create_image(alice, name="secret", visibility="private"), data), \
        data


OTHER_PROJECT_CALLS = {
    "show": ("GET", "", None, {}),
    "download": ("GET", "/file", None, {}),
    "update": ("PATCH", "", json.dumps([{"op": "replace", "path": "/name", "value": "bob"}]),
               {"Content-Type": "application/openstack-images-v2.1-json-patch"}),
    "delete": ("DELETE", "", None, {}),
    "members": ("GET", "/members", None, {}),
    "add member": ("POST", "/members", json.dumps({"member": "x" * 32}),
                   {"Content-Type": "application/json"}),
    "tag": ("PUT", "/tags/bob", None, {}),
    "deactivate": ("POST", "/actions/deactivate", None, {}),
    "upload": ("PUT", "/file", b"bob's bytes", OCTET),
    "tasks": ("GET", "/tasks", None, {}),
}


@pytest.mark.parametrize("call", OTHER_PROJECT_CALLS)
def test_a_private_image_is_404_for_another_project(alice, bob, call):
    image, data = private_image(alice)
    method, suffix, body, headers = OTHER_PROJECT_CALLS[call]
    response = bob.request(method, bob.base + image["self"] + suffix, data=body,
                           headers=headers)
    assert "No image found" in assert_error(response, 404)
    after = show_image(alice, image["id"])
    assert {k: after[k] for k in ("name", "status", "tags", "updated_at", "checksum")} == \
        {k: image[k] for k in ("name", "status", "tags", "updated_at", "checksum")}
    assert alice.get(alice.base + image["file"]).content == data


def test_a_private_image_is_in_no_list_of_another_project(alice, bob):
    image, _ = private_image(alice)
    for visibility in (None, "all", "private", "shared", "community"):
        params = {"visibility": visibility} if visibility else {}
        assert image["id"] not in listed_ids(bob, **params), visibility
    assert image["id"] not in listed_ids(bob, id=image["id"])
    assert image["id"] in listed_ids(alice)


def test_a_shared_image_is_listed_for_a_member_only_once_accepted(alice, bob):
    data = os.urandom(20_000)
    image = upload_image(alice, create_image(alice, name="for-bob"), data)
    members = alice.base + image["self"] + "/members"
    response = alice.post(members, json={"member": bob.project})
    assert response.status_code == 200, response.text
    assert (response.json()["member_id"], response.json()["status"]) == (bob.project, "pending")

    assert image["id"] not in listed_ids(bob)
    assert image["id"] in listed_ids(bob, visibility="shared", member_status="pending")
    # Only the member decides; the owner cannot accept for it.
    assert_error(alice.put(f"{members}/{bob.project}", json={"status": "accepted"}), 403)
    assert image["id"] not in listed_ids(bob)

    response = bob.put(f"{members}/{bob.project}", json={"status": "accepted"})
    assert response.status_code == 200 and response.json()["status"] == "accepted"
    assert image["id"] in listed_ids(bob)
    assert bob.get(bob.base + image["file"]).content == data
    # A member may read, not change, the image nor share it further.
    assert_error(patch_image(bob, image["id"], [{"op": "replace", "path": "/name",
                                                  "value": "mine"}]), 403)
    assert_error(bob.delete(bob.base + image["self"]), 403)
    assert_error(bob.post(members, json={"member": "f" * 32}), 403)
    assert show_image(alice, image["id"])["name"] == "for-bob"

    response = bob.put(f"{members}/{bob.project}", json={"status": "rejected"})
    assert response.status_code == 200
    assert image["id"] not in listed_ids(bob)


def test_a_community_image_is_visible_by_id_but_listed_only_on_request(alice, bob):
    data = os.urandom(10_000)
    image = upload_image(alice, create_image(alice, name="community", visibility="community"),
                         data)
    assert show_image(bob, image["id"])["visibility"] == "community"
    assert bob.get(bob.base + image["file"]).content == data
    assert image["id"] not in listed_ids(bob)
    assert image["id"] in listed_ids(bob, visibility="community")
    assert image["id"] in listed_ids(alice)  # the owner's own list has it


def test_only_an_admin_may_make_an_image_public(alice, bob, admin, live_portal):
    name = f"public-{os.urandom(4).hex()}"
    files = stored_files(live_portal)
    assert "publicize" in assert_error(
        alice.post(alice.base + "/v2/images", json={"name": name, "visibility": "public"}),
        403)
    assert listed_ids(alice, name=name) == [] and listed_ids(admin, name=name) == []

    own = create_image(alice, name=name)
    assert_error(patch_image(alice, own["id"], [{"op": "replace", "path": "/visibility",
                                                  "value": "public"}]), 403)
    assert show_image(alice, own["id"])["visibility"] == "shared"

    public = create_image(admin, name=name, visibility="public")
    assert public["visibility"] == "public"
    assert public["id"] in listed_ids(bob) and public["id"] in listed_ids(alice)
    assert own["id"] not in listed_ids(bob)
    assert stored_files(live_portal) == files


def test_a_non_admin_never_sees_locations_or_direct_url(alice, bob, admin):
    data = os.urandom(30_000)
    image = upload_image(alice, create_image(alice, name="where"), data, store="swift")
    public = upload_image(admin, create_image(admin, name="where-public",
                                              visibility="public"), data, store="s3")
    renamed = patch_image(alice, image["id"], [{"op": "replace", "path": "/name",
                                                "value": "where-now"}])
    assert renamed.status_code == 200, renamed.text
    seen = [image, show_image(alice, image["id"]), renamed.json(),
            show_image(bob, public["id"]), show_image(alice, public["id"])]
    for api, image_id in ((alice, image["id"]), (bob, public["id"])):
        page = api.get(api.base + "/v2/images", params={"id": image_id}).json()
        seen += page["images"]
    assert len(seen) == 7
    for shown in seen:
        assert "locations" not in shown and "direct_url" not in shown, shown
    assert [shown["stores"] for shown in seen] == ["swift"] * 3 + ["s3"] * 2 + ["swift", "s3"]


def test_an_admin_sees_locations_without_credentials(admin, live_portal, swift_env):
    data = os.urandom(40_000)
    image = upload_image(admin, create_image(admin, name="locations"), data, store="s3")
    copy_into(admin, image["id"], "swift", "cheap")

    shown = show_image(admin, image["id"])
    urls = {location["metadata"]["store"]: location["url"] for location in shown["locations"]}
    assert set(urls) == {"s3", "swift", "cheap"}
    assert urls["swift"] == f"swift+config://ref1/{live_portal.bucket}/{image['id']}"
    assert urls["cheap"] == f"file://{live_portal.data_dir}/images/cheap/{image['id']}"
    assert urls["s3"].startswith("s3://") and urls["s3"].endswith(
        f"/{live_portal.s3_bucket}/{image['id']}")
    secrets = [swift_env[key] for key in ("SWIFT_KEY", "S3_ACCESS_KEY", "S3_SECRET_KEY")]
    for url in urls.values():
        assert "@" not in url and len(url) <= 255, url
        assert not any(secret in url for secret in secrets), url
    listed = admin.get(admin.base + "/v2/images", params={"id": image["id"]}).json()["images"]
    assert listed[0]["locations"] == shown["locations"]
