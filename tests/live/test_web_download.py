"""web-download imports: fetched by the worker from an operator-allowed server, never from a
loopback or private address that is not allowed, not even behind a redirect."""
import hashlib
import os
import time

import pytest

from tests.live.server import serve

pytestmark = pytest.mark.live


@pytest.fixture
def forbidden_server(tmp_path):
    """A loopback server the portal is not allowed to reach; it counts connections."""
    (tmp_path / "secret").write_bytes(b"internal data")
    server = serve(tmp_path)
    yield server
    server.shutdown()


def create(api):
    response = api.post(api.base + "/v2/images", json={"name": "web", "disk_format": "raw",
                                                       "container_format": "bare"})
    assert response.status_code == 201
    return response.json()


def wait_until_done(api, image, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        shown = api.get(api.base + image["self"]).json()
        if shown["status"] not in ("queued", "importing") or (
                shown["status"] == "queued" and shown.get("os_glance_failed_import")):
            return shown
        time.sleep(0.3)
    raise AssertionError(f"import did not finish: {shown}")


def test_web_download_from_an_allowed_server_imports_into_the_stores(api, live_portal,
                                                                      web_server):
    data = os.urandom(3 * 2**20 + 1)
    (web_server.root / "disk.raw").write_bytes(data)
    image = create(api)
    response = api.post(api.base + f"/v2/images/{image['id']}/import", json={
        "method": {"name": "web-download", "uri": f"{web_server.url}/disk.raw"},
        "stores": ["file", "cheap"]})
    assert response.status_code == 202, response.text
    shown = wait_until_done(api, image)
    assert shown["status"] == "active"
    assert shown["checksum"] == hashlib.md5(data).hexdigest()
    assert shown["os_hash_value"] == hashlib.sha512(data).hexdigest()
    assert sorted(shown["stores"].split(",")) == ["cheap", "file"]
    assert api.get(api.base + image["file"]).content == data
    # the staged copy is gone once the import is done
    assert f"staging-{image['id']}" not in os.listdir(live_portal.data_dir / "images" / "file")
    tasks = api.get(api.base + f"/v2/images/{image['id']}/tasks").json()["tasks"]
    assert [task["status"] for task in tasks] == ["success"]


def test_a_url_that_is_not_allowed_is_refused_before_any_connection(api, forbidden_server):
    image = create(api)
    for uri in (f"{forbidden_server.url}/secret", "http://169.254.169.254/latest/meta-data",
                "http://2130706433/", "http://[::1]/x", "http://user:pw@example.com/x"):
        response = api.post(api.base + f"/v2/images/{image['id']}/import", json={
            "method": {"name": "web-download", "uri": uri}})
        assert response.status_code == 400, (uri, response.text)
        assert "rejected" in response.json()["error"]["message"]
    assert forbidden_server.connections == 0
    shown = api.get(api.base + image["self"]).json()
    assert shown["status"] == "queued"


def test_a_redirect_to_a_forbidden_address_fails_the_import_without_connecting(
        api, web_server, forbidden_server, live_portal):
    image = create(api)
    response = api.post(api.base + f"/v2/images/{image['id']}/import", json={
        "method": {"name": "web-download",
                   "uri": f"{web_server.url}/redirect?to={forbidden_server.url}/secret"}})
    assert response.status_code == 202, response.text
    shown = wait_until_done(api, image)
    assert shown["status"] == "queued"
    assert shown["os_glance_failed_import"] == "file"
    assert "stores" not in shown
    assert forbidden_server.connections == 0
    tasks = api.get(api.base + f"/v2/images/{image['id']}/tasks").json()["tasks"]
    assert tasks[0]["status"] == "failure" and "redirect rejected" in tasks[0]["message"]
    assert not any(name.endswith(image["id"])
                   for name in os.listdir(live_portal.data_dir / "images" / "file"))
