"""`POST /v2/tasks` (Glance's task API, type import): an admin's call; the image is made and
its data fetched as a web-download import does it; an address that cannot be fetched is a 400
and nothing is made."""
import hashlib
import os
import time

import pytest

pytestmark = pytest.mark.live


def import_task(source, **properties):
    return {"type": "import", "input": {
        "import_from": source, "import_from_format": "raw",
        "image_properties": {"name": "from-a-task", "disk_format": "raw",
                             "container_format": "bare", **properties}}}


def image_count(api):
    return len(api.get(api.base + "/v2/images?limit=1000").json()["images"])


def wait_for_task(api, task_id, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = api.get(api.base + f"/v2/tasks/{task_id}").json()
        if task["status"] in ("success", "failure"):
            return task
        time.sleep(0.3)
    raise AssertionError(f"task did not finish: {task}")


def test_an_admin_s_import_task_makes_an_image_from_the_address(admin, web_server):
    data = os.urandom(2 * 2**20 + 5)
    (web_server.root / "task.raw").write_bytes(data)
    response = admin.post(admin.base + "/v2/tasks",
                          json=import_task(f"{web_server.url}/task.raw", visibility="public"))
    assert response.status_code == 201, response.text
    task = wait_for_task(admin, response.json()["id"])
    assert task["status"] == "success", task
    image = admin.get(admin.base + f"/v2/images/{task['result']['image_id']}").json()
    assert (image["name"], image["status"], image["visibility"]) == \
        ("from-a-task", "active", "public")
    assert image["os_hash_value"] == hashlib.sha512(data).hexdigest()


def test_an_address_that_does_not_resolve_is_400_and_makes_nothing(admin):
    before = image_count(admin)
    response = admin.post(admin.base + "/v2/tasks",
                          json=import_task("http://no-such-host.invalid/disk.qcow2"))
    assert response.status_code == 400
    assert "rejected" in response.json()["error"]["message"]
    assert image_count(admin) == before


@pytest.mark.parametrize("body", [
    {"type": "export", "input": {}},
    {"type": "import", "input": {"import_from_format": "raw", "image_properties": {}}},
    {"type": "import", "input": {"import_from": "file:///etc/passwd",
                                 "import_from_format": "raw", "image_properties": {}}},
    {"type": "import", "input": {"import_from": "http://example.com/x",
                                 "import_from_format": "raw", "image_properties": []}},
])
def test_a_malformed_task_is_400_and_makes_nothing(admin, body):
    before = image_count(admin)
    response = admin.post(admin.base + "/v2/tasks", json=body)
    assert response.status_code == 400, response.text
    assert image_count(admin) == before


def test_a_project_member_may_not_create_tasks(alice, web_server):
    (web_server.root / "member.raw").write_bytes(b"x" * 1024)
    before = image_count(alice)
    response = alice.post(alice.base + "/v2/tasks",
                          json=import_task(f"{web_server.url}/member.raw"))
    assert response.status_code == 403
    assert image_count(alice) == before
