"""Refused requests over raw HTTP: the status code, the `{"error": {code, title, message}}`
body, and that nothing changed — no image created or altered, no object in a store, no
connection to a forbidden address. Bad input is never a 500."""
import json
import os
import socket
import threading
import time
import uuid
from types import SimpleNamespace

import pytest
import requests

from tests.live.clients import (OCTET, PATCH_TYPE, api_session, assert_error, create_image,
                                digests, listed_ids, patch_image, show_image,
                                stored_files, upload_image)

pytestmark = pytest.mark.live

UNKNOWN_ID = "8d0a2b4e-0000-4000-8000-000000000000"


@pytest.fixture
def anonymous(live_portal):
    return api_session(live_portal, None)


@pytest.fixture
def snapshot(live_portal, alice, admin):
    """What exists before the test: alice's images and the files in the file stores; call it
    to assert they are the same after."""
    before = sorted(listed_ids(alice)), sorted(listed_ids(admin)), stored_files(live_portal)

    def unchanged():
        after = sorted(listed_ids(alice)), sorted(listed_ids(admin)), stored_files(live_portal)
        assert after == before

    return unchanged


@pytest.fixture
def listener():
    """A TCP server on 127.0.0.1 that counts the connections made to it."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    accepted, stop = [], threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except socket.timeout:
                continue
            accepted.append(conn)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield SimpleNamespace(port=server.getsockname()[1], accepted=accepted)
    stop.set()
    thread.join(5)
    server.close()


def queued(alice):
    return create_image(alice, name="err")


def active(api, data=b"original bytes"):
    return upload_image(api, create_image(api, name="err-active"), data)


def test_versions_lists_v2_12_and_v2_17(anonymous):
    response = anonymous.get(anonymous.base + "/versions")
    assert response.status_code == 200
    versions = {v["id"]: v for v in response.json()["versions"]}
    assert {"v2.12", "v2.17"} <= set(versions)
    for version in ("v2.12", "v2.17"):
        assert versions[version]["status"] in ("CURRENT", "SUPPORTED")
        assert versions[version]["links"][0]["href"] == anonymous.base + "/v2/"


def test_the_root_is_300_multiple_choices(anonymous):
    response = anonymous.get(anonymous.base + "/", headers={"Accept": "application/json"})
    assert response.status_code == 300
    assert "v2.17" in {v["id"] for v in response.json()["versions"]}


def test_every_response_carries_a_request_id(live_portal, alice, anonymous):
    image = active(alice)
    # The session hook asserts `x-openstack-request-id: req-<uuid>` on each of these.
    responses = [
        anonymous.get(anonymous.base + "/versions"), anonymous.get(anonymous.base + "/"),
        anonymous.get(anonymous.base + "/v2/images"),
        alice.get(alice.base + "/v2/images"), alice.get(alice.base + image["self"]),
        alice.head(alice.base + image["self"]), alice.get(alice.base + image["file"]),
        alice.get(alice.base + image["file"], headers={"Range": "bytes=0-3"}),
        alice.get(alice.base + "/v2/schemas/image"), alice.get(alice.base + "/v2/info/stores"),
        alice.delete(alice.base + "/v2/images"), alice.get(alice.base + "/v2/nowhere"),
        alice.get(alice.base + f"/v2/images/{UNKNOWN_ID}"),
        alice.put(alice.base + image["file"], data=b"x", headers=OCTET),
        patch_image(alice, image["id"], [], content_type="application/json"),
    ]
    assert [r.status_code for r in responses] == \
        [200, 300, 401, 200, 200, 200, 200, 206, 200, 200, 405, 404, 404, 409, 415]
    ids = [r.headers["x-openstack-request-id"] for r in responses]
    assert len(set(ids)) == len(ids)


def test_unknown_store_on_import_is_409_and_the_staged_image_stays_uploading(
        alice, live_portal):
    image = queued(alice)
    staged = alice.put(alice.base + image["self"] + "/stage", data=b"staged", headers=OCTET)
    assert staged.status_code == 204, staged.text
    files = stored_files(live_portal)

    response = alice.post(alice.base + image["self"] + "/import",
                          json={"method": {"name": "glance-direct"}, "stores": ["nope"]})
    assert "nope" in assert_error(response, 409)
    shown = show_image(alice, image["id"])
    assert shown["status"] == "uploading" and "stores" not in shown
    assert not shown.get("os_glance_import_task") and not shown.get(
        "os_glance_importing_to_stores")
    assert stored_files(live_portal) == files
    assert alice.get(alice.base + image["self"] + "/tasks").json()["tasks"] == []


def test_copy_into_an_unknown_store_is_409_and_adds_no_location(admin, live_portal):
    image = active(admin)
    response = admin.post(admin.base + image["self"] + "/import",
                          json={"method": {"name": "copy-image"}, "stores": ["cheap", "nope"]})
    assert "nope" in assert_error(response, 409)
    time.sleep(1)  # a wrongly queued copy would have landed by now
    shown = show_image(admin, image["id"])
    assert (shown["status"], shown["stores"]) == ("active", "file")
    assert len(shown["locations"]) == 1
    assert not (live_portal.data_dir / "images" / "cheap" / image["id"]).exists()


@pytest.mark.parametrize("field, value", [
    ("disk_format", "floppy"), ("container_format", "crate"), ("disk_format", ""),
    ("container_format", 7)])
def test_an_invalid_format_on_create_is_400_and_creates_nothing(alice, snapshot, field, value):
    response = alice.post(alice.base + "/v2/images",
                          json={"name": "bad-format", "disk_format": "raw",
                                "container_format": "bare", field: value})
    assert field in assert_error(response, 400)
    snapshot()


ENDPOINTS = {
    "show": ("GET", "", None, {}),
    "update": ("PATCH", "", "[]", {"Content-Type": PATCH_TYPE}),
    "delete": ("DELETE", "", None, {}),
    "download": ("GET", "/file", None, {}),
    "upload": ("PUT", "/file", b"data", OCTET),
    "stage": ("PUT", "/stage", b"data", OCTET),
    "import": ("POST", "/import", json.dumps({"method": {"name": "glance-direct"}}),
               {"Content-Type": "application/json"}),
    "members": ("GET", "/members", None, {}),
    "tag": ("PUT", "/tags/t", None, {}),
    "deactivate": ("POST", "/actions/deactivate", None, {}),
    "tasks": ("GET", "/tasks", None, {}),
}


@pytest.mark.parametrize("image_id", [UNKNOWN_ID, "not-a-uuid"])
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_an_unknown_image_is_404_on_every_image_endpoint(alice, snapshot, endpoint, image_id):
    method, suffix, body, headers = ENDPOINTS[endpoint]
    response = alice.request(method, f"{alice.base}/v2/images/{image_id}{suffix}", data=body,
                             headers=headers)
    assert image_id in assert_error(response, 404)
    snapshot()


def test_stores_delete_of_an_unknown_image_is_404(admin):
    assert_error(admin.delete(admin.base + f"/v2/stores/file/{UNKNOWN_ID}"), 404)


def test_upload_to_an_active_image_is_409_before_the_body_is_sent(alice, live_portal):
    image = active(alice, b"first")
    host, port = live_portal.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(
            f"PUT {image['file']} HTTP/1.1\r\nHost: {host}\r\n"
            f"X-Auth-Token: {live_portal.user_token}\r\n"
            "Content-Type: application/octet-stream\r\nContent-Length: 104857600\r\n\r\n"
            .encode() + b"x" * 4096)
        # 100 MiB announced, 4 KiB sent: an answer now means the body was not waited for.
        head = conn.recv(65536).decode("latin-1")
    assert head.startswith("HTTP/1.1 409 "), head
    shown = show_image(alice, image["id"])
    assert (shown["status"], shown["checksum"]) == ("active", digests(b"first")["checksum"])
    assert alice.get(alice.base + image["file"]).content == b"first"


def test_a_refused_upload_leaves_the_connection_usable(live_portal, alice):
    """After answering an upload it did not read, the server either drains the body or says
    `Connection: close`; a client reusing the connection (openstacksdk deletes the image
    after a failed upload) must not find it dead."""
    image = active(alice, b"first")
    body = os.urandom(3 * 2**20)
    for attempt in range(10):
        session = api_session(live_portal, live_portal.user_token)
        response = session.put(session.base + image["file"], data=body, headers=OCTET)
        assert_error(response, 409)
        if response.headers.get("Connection", "").lower() == "close":
            continue
        try:
            follow_up = session.get(session.base + image["self"])
        except requests.ConnectionError as error:
            pytest.fail(f"attempt {attempt}: the 409 said keep-alive but the next request on "
                        f"that connection failed: {error}")
        assert follow_up.status_code == 200
    assert alice.get(alice.base + image["file"]).content == b"first"


def test_patch_with_another_media_type_is_415_with_accept_patch(alice):
    image = queued(alice)
    response = patch_image(alice, image["id"],
                           [{"op": "replace", "path": "/name", "value": "renamed"}],
                           content_type="application/json")
    assert_error(response, 415)
    accepted = {t.strip() for t in response.headers.get("Accept-Patch", "").split(",")}
    assert accepted == {"application/openstack-images-v2.1-json-patch",
                        "application/openstack-images-v2.0-json-patch"}
    assert show_image(alice, image["id"]) == image


@pytest.mark.parametrize("path, value", [
    ("/status", "active"), ("/checksum", "0" * 32), ("/os_hash_value", "0" * 128),
    ("/size", 5), ("/virtual_size", 5), ("/id", str(uuid.uuid4())),
    ("/created_at", "2020-01-01T00:00:00Z"), ("/self", "/elsewhere"), ("/stores", "s3"),
    ("/os_glance_import_task", "x"), ("/direct_url", "file:///etc/passwd")])
def test_patch_of_a_read_only_or_reserved_field_is_403_and_changes_nothing(alice, path, value):
    image = active(alice)
    response = patch_image(alice, image["id"], [{"op": "replace", "path": path, "value": value}])
    assert path[1:] in assert_error(response, 403)
    assert show_image(alice, image["id"]) == image


def test_removing_the_only_location_is_403_and_keeps_the_data(admin, live_portal):
    image = active(admin, b"only copy")
    response = admin.delete(admin.base + f"/v2/stores/file/{image['id']}")
    assert_error(response, 403)
    assert show_image(admin, image["id"]) == image
    assert (live_portal.data_dir / "images" / "file" / image["id"]).read_bytes() == b"only copy"


def test_removing_a_store_that_lacks_the_image_is_404(admin, live_portal):
    image = active(admin)
    assert_error(admin.delete(admin.base + f"/v2/stores/cheap/{image['id']}"), 404)
    assert show_image(admin, image["id"]) == image


def test_a_protected_image_cannot_be_deleted(alice, live_portal):
    image = upload_image(alice, create_image(alice, name="keep", protected=True), b"kept")
    assert "protected" in assert_error(alice.delete(alice.base + image["self"]), 403)
    assert show_image(alice, image["id"]) == image
    assert (live_portal.data_dir / "images" / "file" / image["id"]).read_bytes() == b"kept"
    # Unprotecting first is the way.
    assert patch_image(alice, image["id"], [{"op": "replace", "path": "/protected",
                                             "value": False}]).status_code == 200
    assert alice.delete(alice.base + image["self"]).status_code == 204


def test_another_projects_private_image_is_404_not_403(alice, live_portal):
    other = api_session(live_portal, live_portal.token("mallory", "--project", "mallory-p"))
    image = upload_image(alice, create_image(alice, name="mine", visibility="private"), b"m")
    for response in (other.get(other.base + image["self"]),
                     other.delete(other.base + image["self"]),
                     other.get(other.base + image["file"])):
        assert_error(response, 404)
    assert show_image(alice, image["id"]) == image


AUTH_CALLS = {
    "list": ("GET", "/v2/images", None, {}),
    "show": ("GET", "{self}", None, {}),
    "download": ("GET", "{file}", None, {}),
    "create": ("POST", "/v2/images", json.dumps({"name": "anon"}),
               {"Content-Type": "application/json"}),
    "upload": ("PUT", "{queued_file}", b"anonymous bytes", OCTET),
    "update": ("PATCH", "{self}", json.dumps([{"op": "replace", "path": "/name",
                                               "value": "anon"}]),
               {"Content-Type": PATCH_TYPE}),
    "delete": ("DELETE", "{self}", None, {}),
    "stores": ("GET", "/v2/info/stores", None, {}),
}


@pytest.mark.parametrize("token", [None, "wrong", ""])
@pytest.mark.parametrize("call", AUTH_CALLS)
def test_no_token_or_a_bad_token_is_401_and_changes_nothing(live_portal, alice, call, token):
    image, target = active(alice), queued(alice)
    before = sorted(listed_ids(alice)), stored_files(live_portal)
    method, path, body, headers = AUTH_CALLS[call]
    path = path.format(self=image["self"], file=image["file"], queued_file=target["file"])
    if token is not None:
        headers = {**headers, "X-Auth-Token": token}
    # JSON as openstacksdk asks for it; `*/*` would get webob's HTML page.
    headers = {**headers, "Accept": "application/json"}
    response = requests.request(method, live_portal.url + path, data=body, headers=headers)
    assert_error(response, 401)
    assert response.headers.get("WWW-Authenticate", "").startswith("Keystone uri=")
    assert (sorted(listed_ids(alice)), stored_files(live_portal)) == before
    assert show_image(alice, image["id"]) == image
    assert show_image(alice, target["id"]) == target


@pytest.mark.parametrize("method, suffix, content_type, body", [
    ("POST", "", "application/json", "not json"),
    ("POST", "", "application/json", "[1, 2]"),
    ("POST", "", "application/json", "3"),
    ("POST", "", "application/json", '{"name": "unterminated'),
    ("POST", "", "application/json", b'{"name": "\xff"}'),
    ("PATCH", "/{id}", PATCH_TYPE, "not json"),
    ("PATCH", "/{id}", PATCH_TYPE, '{"op": "replace"}'),
    ("POST", "/{id}/import", "application/json", "not json"),
    ("POST", "/{id}/members", "application/json", "not json"),
])
def test_a_body_that_is_not_the_expected_json_is_400_and_changes_nothing(
        alice, method, suffix, content_type, body):
    image = queued(alice)
    before = sorted(listed_ids(alice))
    response = alice.request(method, alice.base + "/v2/images" + suffix.format(id=image["id"]),
                             data=body, headers={"Content-Type": content_type})
    assert_error(response, 400)
    assert sorted(listed_ids(alice)) == before
    assert show_image(alice, image["id"]) == image


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_a_get_or_delete_carrying_a_body_is_400(alice, method):
    image = active(alice)
    response = alice.request(method, alice.base + image["self"], data='{"name": "x"}',
                             headers={"Content-Type": "application/json"})
    assert_error(response, 400)
    assert show_image(alice, image["id"]) == image


@pytest.mark.parametrize("query, word", [
    ("limit=-1", "limit"), ("limit=abc", "limit"), ("limit=1.5", "limit"),
    ("sort_key=colour", "colour"), ("sort_dir=up", "up"), ("sort=name:up", "up"),
    ("sort=name:asc&sort_key=name", "sort"),
    ("sort_key=name&sort_key=size&sort_dir=asc&sort_dir=desc&sort_dir=asc", "sort"),
    ("changes-since=2020-01-01T00:00:00Z", "changes-since"),
    (f"marker={UNKNOWN_ID}", UNKNOWN_ID), ("marker=not-an-id", "not-an-id"),
    ("visibility=everyone", "everyone"), ("member_status=maybe&visibility=shared", "maybe"),
    ("protected=perhaps", "perhaps"), ("os_hidden=perhaps", "perhaps"),
    ("size_min=big", "size_min"), ("created_at=gt:yesterday", "created_at")])
def test_a_bad_list_parameter_is_400(alice, query, word):
    response = alice.get(alice.base + "/v2/images?" + query)
    assert word in assert_error(response, 400)


@pytest.mark.parametrize("uri", [
    "http://127.0.0.1:{port}/x", "http://localhost:{port}/x", "http://127.0.0.1/x",
    "http://169.254.169.254/latest/meta-data", "http://[::1]/x", "http://[::1]:{port}/x",
    "http://2130706433/x", "http://0x7f000001/x", "http://0177.0.0.1/x", "http://127.1/x",
    "http://10.0.0.1/x", "file:///etc/passwd", "ftp://127.0.0.1:{port}/x"])
def test_web_download_of_an_internal_address_is_400_and_connects_nowhere(alice, listener,
                                                                         live_portal, uri):
    image = queued(alice)
    files = stored_files(live_portal)
    uri = uri.format(port=listener.port)
    response = alice.post(alice.base + image["self"] + "/import",
                          json={"method": {"name": "web-download", "uri": uri}})
    assert "rejected" in assert_error(response, 400)
    time.sleep(0.5)  # time for a wrongly queued download to try
    assert listener.accepted == []
    assert show_image(alice, image["id"]) == image
    assert alice.get(alice.base + image["self"] + "/tasks").json()["tasks"] == []
    assert stored_files(live_portal) == files


ODD_REQUESTS = {
    # name: (method, path, body, headers, expected status)
    "deeply nested JSON": ("POST", "/v2/images", "[" * 100_000 + "]" * 100_000, {}, 400),
    "integer beyond 64 bits": ("POST", "/v2/images", '{"min_ram": 1' + "0" * 40 + "}", {}, 400),
    "negative min_disk": ("POST", "/v2/images", '{"min_disk": -1}', {}, 400),
    "NaN": ("POST", "/v2/images", '{"min_ram": NaN}', {}, 400),
    "name of 256": ("POST", "/v2/images", json.dumps({"name": "n" * 256}), {}, 400),
    "property key of 256": ("POST", "/v2/images", json.dumps({"k" * 256: "v"}), {}, 400),
    "non-string property": ("POST", "/v2/images", json.dumps({"flavour": 1}), {}, 400),
    "tags not a list": ("POST", "/v2/images", json.dumps({"tags": "a"}), {}, 400),
    "bad uuid": ("POST", "/v2/images", json.dumps({"id": "1234"}), {}, 400),
    "snowman id": ("GET", "/v2/images/%E2%98%83", None, {}, 404),
    "NUL id": ("GET", "/v2/images/%00", None, {}, 404),
    "snowman marker": ("GET", "/v2/images?marker=%E2%98%83", None, {}, 400),
    "patch of a deep path": ("PATCH", "/v2/images/{id}",
                             json.dumps([{"op": "add", "path": "/a/b", "value": "x"}]),
                             {"Content-Type": PATCH_TYPE}, 400),
    "patch move": ("PATCH", "/v2/images/{id}",
                   json.dumps([{"op": "move", "from": "/name", "path": "/x"}]),
                   {"Content-Type": PATCH_TYPE}, 400),
    "patch without value": ("PATCH", "/v2/images/{id}",
                            json.dumps([{"op": "replace", "path": "/name"}]),
                            {"Content-Type": PATCH_TYPE}, 400),
    "patch item not an object": ("PATCH", "/v2/images/{id}", "[5]",
                                 {"Content-Type": PATCH_TYPE}, 400),
    "import without method": ("POST", "/v2/images/{id}/import", "{}", {}, 400),
    "import of an unknown method": ("POST", "/v2/images/{id}/import",
                                    json.dumps({"method": {"name": "teleport"}}), {}, 400),
    "import with stores and all_stores": (
        "POST", "/v2/images/{id}/import",
        json.dumps({"method": {"name": "web-download", "uri": "https://example.org/x"},
                    "stores": ["file"], "all_stores": True}), {}, 400),
    "import uri not a string": ("POST", "/v2/images/{id}/import",
                                json.dumps({"method": {"name": "web-download", "uri": 5}}),
                                {}, 400),
    "import uri with bad port": ("POST", "/v2/images/{id}/import", json.dumps(
        {"method": {"name": "web-download", "uri": "http://example.org:99999/x"}}), {}, 400),
    "size header not a number": ("PUT", "/v2/images/{id}/file", b"abc",
                                 {**OCTET, "X-Openstack-Image-Size": "three"}, 400),
    "member not a string": ("POST", "/v2/images/{id}/members", json.dumps({"member": [1]}),
                            {}, 400),
    "tag of 256": ("PUT", "/v2/images/{id}/tags/" + "t" * 256, None, {}, 400),
}


@pytest.mark.parametrize("case", ODD_REQUESTS)
def test_bad_input_is_a_4xx_error_never_a_500(alice, case):
    image = queued(alice)
    method, path, body, headers, code = ODD_REQUESTS[case]
    headers = {"Content-Type": "application/json", **headers}
    response = alice.request(method, alice.base + path.format(id=image["id"]), data=body,
                             headers=headers)
    assert response.status_code < 500, (response.status_code, response.text[:300])
    assert_error(response, code)
    assert show_image(alice, image["id"]) == image
