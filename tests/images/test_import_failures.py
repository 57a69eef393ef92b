"""How uploads and imports fail: a header claiming a virtual size no column can hold, an error
nobody planned for, a server that sends too slowly. Each ends in an answer (or a failed
task), a queued image, no object in any store, and no import lock left on the image."""
import contextlib
import struct
import time

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.test import Client

from accounts.services import user_ensure
from images.exceptions import UnsupportedContent
from images.inspection import MAX_VIRTUAL_SIZE
from images.models import Image, ImageLocation, Task
from images.selectors import Caller
from images.services.data import STAGING_PROPERTY
from images.services.imports import (TASK_LOCK, image_import, image_import_run, image_stage,
                                     task_get)
from images.services.properties import property_get
from stores.urlfetch import FetchPolicy, open_url
from stores.backends.file import FileStore
from tests import factories
from tests.stores.test_urlfetch import serving

pytestmark = pytest.mark.django_db(transaction=True)

QCOW2_SIZE_FIELD = 24  # the virtual size, a big-endian u64 (qcow2 header, bytes 24-31)


@pytest.fixture
def huge_qcow2(disk_images, tmp_path):
    """A qcow2 made by qemu-img whose header claims 2**64-1 bytes of virtual size."""
    data = bytearray(disk_images["qcow2"].read_bytes())
    struct.pack_into(">Q", data, QCOW2_SIZE_FIELD, 2**64 - 1)
    path = tmp_path / "huge.qcow2"
    path.write_bytes(data)
    return path


def objects(file_stores):
    return {(store, p.name) for store, root in file_stores.items() for p in root.iterdir()}


def run_import(image, method, fetch=None):
    task = image_import(image=image, body={"method": method, "stores": ["fast", "cheap"]},
                        caller=Caller(project=factories.PROJECT))
    return task, image_import_run(task=task_get(task.id), fetch=fetch)


def assert_failed_and_released(task, image, file_stores):
    task.refresh_from_db()
    image.refresh_from_db()
    assert task.status == Task.Status.FAILURE
    assert task.info.message.startswith("Import failed: ")
    assert (image.status, image.size, image.virtual_size) == ("queued", None, None)
    assert property_get(image, TASK_LOCK) is None
    assert property_get(image, STAGING_PROPERTY) is None
    assert not ImageLocation.all_objects.filter(image=image, deleted=False).exists()
    assert objects(file_stores) == set()


@contextlib.contextmanager
def file_response(path):
    with open(path, "rb") as f:
        f.length = path.stat().st_size
        yield f


# A virtual size past the column's range --------------------------------------------------


def test_the_limit_is_the_largest_value_the_virtual_size_column_holds():
    assert MAX_VIRTUAL_SIZE == 2**63 - 1


def test_an_upload_claiming_a_virtual_size_past_the_column_is_refused_with_415(
        file_stores, huge_qcow2):
    user = user_ensure(username="alice", project_name="alice-project", admin=False)
    api = Client(raise_request_exception=False, HTTP_ACCEPT="application/json")
    api.force_login(user)
    image_id = api.post("/v2/images", {"name": "huge", "disk_format": "qcow2",
                                       "container_format": "bare"},
                        content_type="application/json").json()["id"]
    response = api.put(f"/v2/images/{image_id}/file", huge_qcow2.read_bytes(),
                       content_type="application/octet-stream")
    assert response.status_code == 415
    error = response.json()["error"]
    assert (error["code"], error["title"]) == (415, "Unsupported Media Type")
    assert "virtual size" in error["message"] and "Nothing was kept" in error["message"]
    image = Image.objects.get(pk=image_id)
    assert (image.status, image.size, image.virtual_size) == ("queued", None, None)
    assert objects(file_stores) == set()


def test_staging_an_image_claiming_a_virtual_size_past_the_column_is_refused(
        file_stores, huge_qcow2):
    image = factories.image(disk_format="qcow2")
    with open(huge_qcow2, "rb") as f, pytest.raises(UnsupportedContent, match="virtual size"):
        image_stage(image=image, stream=f)
    image.refresh_from_db()
    assert image.status == "queued"
    assert objects(file_stores) == set()


def test_a_glance_direct_import_claiming_a_virtual_size_past_the_column_fails_its_task(
        file_stores, disk_images, huge_qcow2):
    # Staged while it was still a good image (or before staging checked sizes), then
    # imported: the import's own inspection refuses it.
    image = factories.image(disk_format="qcow2")
    with open(disk_images["qcow2"], "rb") as f:
        image_stage(image=image, stream=f)
    staged = file_stores["fast"] / f"staging-{image.id}"
    staged.write_bytes(huge_qcow2.read_bytes())
    task, imported = run_import(image, {"name": "glance-direct"})
    assert imported is False
    assert_failed_and_released(task, image, file_stores)
    assert "virtual size" in task_get(task.id).info.message


def test_a_web_download_claiming_a_virtual_size_past_the_column_fails_its_task(
        file_stores, huge_qcow2):
    image = factories.image(disk_format="qcow2")
    task, imported = run_import(image, {"name": "web-download", "uri": "https://example.org/x"},
                                fetch=lambda url: file_response(huge_qcow2))
    assert imported is False
    assert_failed_and_released(task, image, file_stores)


# An error nobody planned for --------------------------------------------------------------


@pytest.mark.parametrize("error", [RuntimeError("a bug"),
                                   SoftTimeLimitExceeded("the task's soft time limit")])
def test_an_unexpected_error_in_an_import_fails_its_task_and_releases_the_lock(
        file_stores, disk_images, monkeypatch, error):
    image = factories.image(disk_format="qcow2")
    with open(disk_images["qcow2"], "rb") as f:
        image_stage(image=image, stream=f)

    def broken_save(self, key, stream):
        raise error

    monkeypatch.setattr(FileStore, "save", broken_save)
    task = image_import(image=image, body={"method": {"name": "glance-direct"},
                                           "stores": ["fast"]},
                        caller=Caller(project=factories.PROJECT))
    with pytest.raises(type(error)):
        image_import_run(task=task_get(task.id))
    assert_failed_and_released(task, image, file_stores)
    assert str(error) in task_get(task.id).info.message


def test_an_unexpected_error_in_a_web_download_fails_its_task_and_releases_the_lock(
        file_stores):
    image = factories.image(disk_format="raw")

    def fetch(url):
        raise KeyError("a bug")

    task = image_import(image=image, body={"method": {"name": "web-download",
                                                      "uri": "https://example.org/x"}},
                        caller=Caller(project=factories.PROJECT))
    with pytest.raises(KeyError):
        image_import_run(task=task_get(task.id), fetch=fetch)
    assert_failed_and_released(task, image, file_stores)


# A server that sends too slowly -----------------------------------------------------------


@pytest.mark.parametrize("path, options, reason", [
    ("/trickle", {"min_rate": 4096, "min_rate_window": 1}, "bytes/s"),
    ("/steady", {"deadline": 1.5, "min_rate": 0}, "within 1.5 s"),
])
def test_a_web_download_too_slow_fails_its_task_within_seconds_and_keeps_nothing(
        file_stores, path, options, reason):
    with serving("127.0.0.1") as origin:
        host, port = origin.server_address
        fetch_policy = FetchPolicy(allowed_hosts=[f"{host}:{port}"], timeout=5, **options)
        image = factories.image(disk_format="raw")
        started = time.monotonic()
        task, imported = run_import(
            image, {"name": "web-download", "uri": f"http://{host}:{port}{path}"},
            fetch=lambda url: open_url(url, fetch_policy))
        assert time.monotonic() - started < 6
    assert imported is False
    assert_failed_and_released(task, image, file_stores)
    assert reason in task_get(task.id).info.message
