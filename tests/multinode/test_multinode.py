"""The portal on many machines: two web nodes and a worker node sharing one PostgreSQL, one
Redis and one Swift (tests/multinode/conftest.py). Whatever one web node starts, the other
web node or the worker finishes, through the shared services alone: each node's own folder
holds no byte of any image afterwards."""
import hashlib
import os
import re

import openstack
import pytest
import requests
from swiftclient import ClientException

from tests.live.clients import (api_session, create_image, digests, glance, property_table,
                                show_image, upload_image, wait_until)

pytestmark = [
    pytest.mark.live,
    pytest.mark.swift,
    # The SDK's own RemovedInSDK50/60Warning about its internals, raised on every call.
    pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"),
]


@pytest.fixture
def payload(tmp_path):
    """Random bytes (several 1 MiB chunks and an odd tail) and the file holding them."""
    data = os.urandom(3 * 2**20 + 7)
    path = tmp_path / "image.raw"
    path.write_bytes(data)
    return data, path


@pytest.fixture
def cli(cluster):
    """`glance` as alice against one node: cli(node, ARGS...); fails the test on an error."""

    def run(node, *args):
        result = glance(node, cluster.alice, *args, home=cluster.home)
        assert result.returncode == 0, (node.name, args, result.stdout, result.stderr,
                                        node.log_text()[-4000:])
        return result.stdout

    return run


@pytest.fixture
def api_b(cluster):
    return api_session(cluster.b, cluster.alice)


def object_size(swift, container, name):
    """The size of an object in Swift, or None when there is none."""
    try:
        return int(swift.head_object(container, name)["content-length"])
    except ClientException as exc:
        assert exc.http_status == 404, exc
        return None


def served(node, method, path):
    """The statuses and request ids of the node's `METHOD PATH` responses (its access log)."""
    pattern = re.compile(rf"^{method} {re.escape(path)} HTTP/1\.1 (\d+) (req-\S+)$", re.M)
    return pattern.findall(node.access_log_text())


def logged(node, method, path):
    """served(), once the node has logged the response (gunicorn logs it after sending it)."""
    return wait_until(lambda: served(node, method, path), timeout=10,
                      message=f"{node.name} logging {method} {path}")


def finished_task(api, image_id, request_id):
    """The image's task created by the request `request_id`, once it has finished."""

    def finished():
        response = api.get(api.base + f"/v2/images/{image_id}/tasks")
        assert response.status_code == 200, response.text
        tasks = [task for task in response.json()["tasks"] if task["request_id"] == request_id]
        assert len(tasks) == 1, response.json()
        return tasks[0]["status"] in ("success", "failure") and tasks[0]

    return wait_until(finished, message=f"the task of request {request_id}")


def import_done(api, image_id, store):
    def done():
        image = show_image(api, image_id)
        return (image["status"] == "active" and not image.get("os_glance_importing_to_stores")
                and store in image.get("stores", "").split(",") and image)

    return wait_until(done, message=f"import of {image_id} into {store}")


def assert_digests(image, data):
    assert {key: image[key] for key in ("checksum", "os_hash_algo", "os_hash_value", "size")} \
        == digests(data)


def assert_run_by_worker_only(cluster, task, line):
    """The worker node logged `line` for the task; neither web node ran it."""
    wait_until(lambda: line in cluster.c.log_text(), timeout=10, message=line)
    for web in (cluster.a, cluster.b):
        assert task["id"] not in web.log_text(), web.name


def assert_no_node_holds(cluster, data):
    """No file of any node holds a piece of `data`: the bytes went through, never down."""
    probes = [data[offset:offset + 4096] for offset in (0, len(data) // 2, len(data) - 4096)]
    for node in cluster.nodes:
        for path in node.files():
            content = path.read_bytes()
            assert not any(probe in content for probe in probes), (node.name, path)


def test_an_upload_through_web_node_a_downloads_byte_identical_through_web_node_b(
        cluster, cli, payload, swift):
    data, path = payload
    image = property_table(cli(cluster.a, "image-create", "--store", "swift", "--name",
                               "mn-upload", "--disk-format", "raw", "--container-format",
                               "bare", "--file", path))
    assert image["status"] == "active"
    assert object_size(swift, cluster.containers["swift"], image["id"]) == len(data)

    conn = openstack.connection.Connection(
        auth_type="admin_token", auth={"endpoint": cluster.b.url, "token": cluster.alice},
        image_endpoint_override=cluster.b.url, image_api_version="2")
    try:
        shown = conn.image.get_image(image["id"])
        # The SDK checks the body against Content-MD5 itself.
        back = conn.image.download_image(image["id"]).content
    finally:
        conn.close()

    assert back == data
    assert (shown.checksum, shown.hash_value) == (hashlib.md5(back).hexdigest(),
                                                 hashlib.sha512(back).hexdigest())
    file_path = f"/v2/images/{image['id']}/file"
    assert [status for status, _ in logged(cluster.a, "PUT", file_path)] == ["204"]
    assert served(cluster.b, "PUT", file_path) == []
    assert [status for status, _ in logged(cluster.b, "GET", file_path)] == ["200"]
    assert served(cluster.a, "GET", file_path) == []
    assert_no_node_holds(cluster, data)


def test_glance_direct_staged_through_a_is_imported_through_b_by_the_worker(
        cluster, cli, payload, swift, api_b, tmp_path):
    data, path = payload
    image = property_table(cli(cluster.a, "image-create", "--name", "mn-direct",
                               "--disk-format", "raw", "--container-format", "bare"))
    image_id = image["id"]
    cli(cluster.a, "image-stage", "--file", path, image_id)
    # Staged in the shared staging store, where any node finds it.
    assert object_size(swift, cluster.containers["staging"], f"staging-{image_id}") \
        == len(data)
    assert show_image(api_b, image_id)["status"] == "uploading"

    cli(cluster.b, "image-import", image_id, "--import-method", "glance-direct", "--stores",
        "swift")

    imported = import_done(api_b, image_id, "swift")
    assert_digests(imported, data)
    assert imported["stores"] == "swift"
    [(status, request_id)] = logged(cluster.b, "POST", f"/v2/images/{image_id}/import")
    assert status == "202"
    assert served(cluster.a, "POST", f"/v2/images/{image_id}/import") == []
    task = finished_task(api_b, image_id, request_id)
    assert task["status"] == "success"
    assert_run_by_worker_only(
        cluster, task, f"task {task['id']}: glance-direct of image {image_id}: Imported into "
        "swift")
    # Left: the image in `swift`; the staged object is gone.
    assert object_size(swift, cluster.containers["swift"], image_id) == len(data)
    assert object_size(swift, cluster.containers["staging"], f"staging-{image_id}") is None
    cli(cluster.b, "image-download", image_id, "--file", tmp_path / "back.raw")
    assert (tmp_path / "back.raw").read_bytes() == data
    assert_no_node_holds(cluster, data)


def test_a_copy_started_on_a_is_done_by_the_worker_and_served_by_b_from_the_new_store(
        cluster, cli, payload, swift, api_b, tmp_path):
    data, path = payload
    api_a = api_session(cluster.a, cluster.alice)
    image_id = upload_image(api_a, create_image(api_a, name="mn-copy"), data, "swift")["id"]

    cli(cluster.a, "image-import", image_id, "--import-method", "copy-image", "--stores",
        "swift2")

    copied = import_done(api_b, image_id, "swift2")
    assert set(copied["stores"].split(",")) == {"swift", "swift2"}
    [(status, request_id)] = logged(cluster.a, "POST", f"/v2/images/{image_id}/import")
    assert status == "202"
    task = finished_task(api_b, image_id, request_id)
    assert task["status"] == "success"
    assert_run_by_worker_only(
        cluster, task, f"task {task['id']}: copy-image of image {image_id}: Imported into "
        "swift2")
    assert object_size(swift, cluster.containers["swift2"], image_id) == len(data)

    # With the first copy removed, what B serves can only come from swift2.
    cli(cluster.b, "stores-delete", image_id, "--store", "swift")
    assert object_size(swift, cluster.containers["swift"], image_id) is None
    cli(cluster.b, "image-download", image_id, "--file", tmp_path / "back.raw")
    assert (tmp_path / "back.raw").read_bytes() == data
    assert_digests(show_image(api_b, image_id), data)
    assert_no_node_holds(cluster, data)


def test_signed_in_through_web_node_a_is_signed_in_on_web_node_b(cluster):
    # The session lives in the shared database and is checked with the shared secret key.
    browser = requests.Session()
    form = browser.get(cluster.a.url + "/accounts/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)[1]
    signed_in = browser.post(cluster.a.url + "/accounts/login/", allow_redirects=False,
                             data={"username": "admin", "password": cluster.password,
                                   "csrfmiddlewaretoken": token},
                             headers={"Referer": cluster.a.url + "/accounts/login/"})
    assert signed_in.status_code == 302, signed_in.text

    page = browser.get(cluster.b.url + "/images/", allow_redirects=False)

    assert page.status_code == 200
    assert "admin" in page.text
