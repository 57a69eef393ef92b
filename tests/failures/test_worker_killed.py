"""The Celery process running a copy killed half-way (SIGKILL, as the OOM killer does)."""
import hashlib
import os
import signal
import time
from pathlib import Path

import pytest

from tests.failures.conftest import MiB
from tests.failures.relay import Relay
from tests.live.clients import create_image, show_image, upload_image, wait_until

pytestmark = [pytest.mark.live, pytest.mark.swift]

SIZE = 16 * MiB
SEGMENT = 4 * MiB  # a Swift large object: a killed copy has left segments behind
# Seconds before the broker hands a dead worker's task to another (PORTAL_TASK_VISIBILITY_TIMEOUT).
VISIBILITY = 4


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


def copied(portal, image):
    """The image once its copy into Swift is recorded and no import is in progress."""
    def done():
        shown = show_image(portal.api, image["id"])
        return (shown["stores"].split(",") == ["file", "swift"]
                and not shown.get("os_glance_importing_to_stores") and shown)

    return wait_until(done, timeout=60, message="the copy to be run again")


def assert_one_whole_copy(portal, image, after, swift_objects):
    """One location per store, the source's untouched, the copy whole, and in Swift the
    copy's manifest and segments only: nothing of the killed attempt beside them."""
    locations = after["locations"]
    assert sorted(loc["metadata"]["store"] for loc in locations) == ["file", "swift"], locations
    source = portal.data_dir / "images" / "file" / image["id"]
    assert hashlib.md5(source.read_bytes()).hexdigest() == image["checksum"]
    response = portal.api.get(f"{portal.url}/v2/images/{image['id']}/file",
                              params={"prefer": "swift"})
    assert hashlib.md5(response.content).hexdigest() == image["checksum"]
    container = portal.container
    assert sorted(swift_objects()) == [f"{container}/{image['id']}"] + [
        f"{container}_segments/{image['id']}/{n:08d}" for n in range(1, SIZE // SEGMENT + 1)]


def start_slow_copy(portal, slow_swift, how):
    """An image in the file store, and its copy into Swift under way (a third sent)."""
    image = upload_image(portal.api, create_image(portal.api, name="copied"), os.urandom(SIZE))
    wait_until(lambda: pool_processes(portal.worker), message="the worker's pool")
    slow_swift.rate = 4 * MiB  # bytes per second into Swift: the copy takes about 4 s
    start = slow_swift.forwarded
    queue_copy(portal, image["id"], how)
    wait_until(lambda: slow_swift.forwarded - start > SIZE // 3, interval=0.05,
               message="the copy to be under way")
    return image


@pytest.mark.parametrize("how", ["import", "image_copy --background"])
def test_a_copy_whose_worker_process_is_killed_is_run_again_and_leaves_one_whole_copy(
        make_portal, slow_swift, swift_objects, how):
    portal = make_portal(swift_auth_url=f"http://{slow_swift.address}/auth/v1.0",
                         large_object_size=SEGMENT)
    portal.start()
    image = start_slow_copy(portal, slow_swift, how)
    [process] = pool_processes(portal.worker)
    os.kill(process, signal.SIGKILL)
    slow_swift.rate = None

    # The message was not acknowledged: the worker runs the copy again in a new process.
    after = copied(portal, image)
    assert process not in pool_processes(portal.worker)
    assert "SIGKILL" in portal.log("celery")
    assert_one_whole_copy(portal, image, after, swift_objects)
    if how == "import":
        tasks = portal.api.get(f"{portal.url}/v2/images/{image['id']}/tasks").json()["tasks"]
        assert [task["status"] for task in tasks] == ["success"], tasks


def test_a_copy_whose_whole_worker_is_killed_is_run_by_the_next_worker(
        make_portal, slow_swift, swift_objects):
    portal = make_portal(swift_auth_url=f"http://{slow_swift.address}/auth/v1.0",
                         large_object_size=SEGMENT,
                         env={"PORTAL_TASK_VISIBILITY_TIMEOUT": str(VISIBILITY)})
    portal.start()
    image = start_slow_copy(portal, slow_swift, "import")
    taken = time.monotonic()
    pool = pool_processes(portal.worker)
    for pid in [portal.worker.pid, *pool]:  # the main process first: it would requeue
        os.kill(pid, signal.SIGKILL)
    portal.worker.wait(10)
    slow_swift.rate = None

    # No worker: the copy is still recorded as in progress, the image locked by it.
    shown = show_image(portal.api, image["id"])
    assert shown["stores"] == "file" and shown["os_glance_importing_to_stores"] == "swift"
    refused = portal.api.post(f"{portal.url}/v2/images/{image['id']}/import",
                              json={"method": {"name": "copy-image"}, "stores": ["swift"]})
    assert refused.status_code == 409, refused.text
    # Past the visibility timeout, the next worker takes the task back and runs it.
    time.sleep(max(0, taken + VISIBILITY + 1 - time.monotonic()))
    portal.start_worker()
    after = copied(portal, image)
    assert_one_whole_copy(portal, image, after, swift_objects)
    tasks = portal.api.get(f"{portal.url}/v2/images/{image['id']}/tasks").json()["tasks"]
    assert [task["status"] for task in tasks] == ["success"], tasks
