"""The Celery process running a copy killed half-way (SIGKILL, as the OOM killer does)."""
import hashlib
import os
import signal
from pathlib import Path

import pytest

from tests.failures.conftest import MiB
from tests.failures.relay import Relay
from tests.live.clients import create_image, show_image, upload_image, wait_until

pytestmark = [pytest.mark.live, pytest.mark.swift]

SIZE = 16 * MiB
SEGMENT = 4 * MiB  # a Swift large object: a killed copy has left segments behind


@pytest.fixture
def slow_swift(swift_env):
    """A relay to Swift's proxy; `rate` set, it makes a copy into Swift take seconds."""
    host, port = swift_env["SWIFT_AUTH_URL"].split("//", 1)[1].split("/", 1)[0].split(":")
    relay = Relay((host, int(port)))
    yield relay
    relay.close()


def pool_processes(worker):
    """The pids of a Celery worker's pool processes (the children that run the tasks)."""
    children = Path(f"/proc/{worker.pid}/task/{worker.pid}/children").read_text().split()
    return [int(pid) for pid in children]


def queue_copy(portal, image_id, how):
    if how == "import":
        response = portal.api.post(f"{portal.url}/v2/images/{image_id}/import",
                                   json={"method": {"name": "copy-image"}, "stores": ["swift"]})
        assert response.status_code == 202, response.text
    else:
        portal.manage("image_copy", image_id, "--store", "swift", "--background")


@pytest.mark.parametrize("how", ["import", "image_copy --background"])
def test_a_copy_whose_worker_process_is_killed_is_run_again_and_leaves_one_whole_copy(
        make_portal, slow_swift, swift_env, swift_objects, how):
    portal = make_portal(swift_auth_url=f"http://{slow_swift.address}/auth/v1.0",
                         large_object_size=SEGMENT)
    portal.start()
    api = portal.api
    data = os.urandom(SIZE)
    image = upload_image(api, create_image(api, name="copied"), data)
    source = portal.data_dir / "images" / "file" / image["id"]
    wait_until(lambda: pool_processes(portal.worker), message="the worker's pool")

    slow_swift.rate = 4 * MiB  # bytes per second into Swift: the copy takes about 4 s
    start = slow_swift.forwarded
    queue_copy(portal, image["id"], how)
    wait_until(lambda: slow_swift.forwarded - start > SIZE // 3, interval=0.05,
               message="the copy to be under way")
    [process] = pool_processes(portal.worker)
    os.kill(process, signal.SIGKILL)
    slow_swift.rate = None

    # The message was not acknowledged: the worker runs the copy again in a new process.
    def copied():
        shown = show_image(api, image["id"])
        return (shown["stores"].split(",") == ["file", "swift"]
                and not shown.get("os_glance_importing_to_stores") and shown)

    after = wait_until(copied, timeout=60, message="the copy to be run again")
    assert process not in pool_processes(portal.worker)
    assert "SIGKILL" in portal.log("celery")
    # One location per store, the source's untouched, and the copy whole.
    locations = after["locations"]
    assert sorted(loc["metadata"]["store"] for loc in locations) == ["file", "swift"], locations
    assert hashlib.md5(source.read_bytes()).hexdigest() == image["checksum"]
    response = api.get(f"{portal.url}/v2/images/{image['id']}/file", params={"prefer": "swift"})
    assert hashlib.md5(response.content).hexdigest() == image["checksum"]
    # In Swift, the copy's manifest and its segments: nothing of the killed attempt beside.
    container = portal.container
    assert sorted(swift_objects()) == [f"{container}/{image['id']}"] + [
        f"{container}_segments/{image['id']}/{n:08d}" for n in range(1, SIZE // SEGMENT + 1)]
    if how == "import":
        tasks = api.get(f"{portal.url}/v2/images/{image['id']}/tasks").json()["tasks"]
        assert [task["status"] for task in tasks] == ["success"], tasks
