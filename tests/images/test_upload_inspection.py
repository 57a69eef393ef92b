"""Image content checks on every way data comes in (upload, stage, glance-direct and
web-download imports), with real images made by qemu-img: good ones become active with
qemu-img's virtual size; refused ones leave no object, no location and a queued image."""
import contextlib
import os

import pytest

from images import services
from images.exceptions import UnsupportedContent
from images.inspection import HEAD_SIZE
from images.models import Image, ImageLocation, Task
from images.selectors import Caller
from images.services.data import UPLOAD_ERROR_PROPERTY
from images.services.imports import image_import, image_import_run, image_stage, task_get
from images.services.properties import property_get
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)

GOOD = [  # (disk image, disk_format claimed, format qemu-img reads it as)
    ("raw", "raw", "raw"), ("raw", "ami", "raw"), ("gpt", "raw", "raw"), ("mbr", "raw", "raw"),
    ("qcow2", "qcow2", "qcow2"), ("vmdk", "vmdk", "vmdk"), ("vmdk-stream", "vmdk", "vmdk"),
    ("vhd", "vhd", "vpc"), ("vhd-fixed", "vhd", "vpc"), ("vhdx", "vhdx", "vhdx"),
    ("vdi", "vdi", "vdi"), ("iso", "iso", "raw"), ("iso-hybrid", "iso", "raw"),
]
BAD = [  # (disk image, disk_format claimed, what the refusal says, a good image to retry)
    ("qcow2-backing", "qcow2", "Image has a backing file", "qcow2"),
    ("qcow2-data-file", "qcow2", "Image has data_file set", "qcow2"),
    ("qcow2-unknown-feature", "qcow2", "Unknown QCOW2 features found", "qcow2"),
    ("qcow2-iso", "qcow2", "matches more than one format (iso, qcow2)", "qcow2"),
    ("vmdk-flat", "vmdk", "descriptor: Unsupported subformat", "vmdk"),
    ("vmdk-split", "vmdk", "descriptor: Unsupported subformat", "vmdk"),
    ("qcow2", "raw", "Image data is qcow2, but its disk_format is raw", "raw"),
    ("raw", "qcow2", "Image data is raw, but its disk_format is qcow2", "qcow2"),
    ("vmdk", "qcow2", "Image data is vmdk, but its disk_format is qcow2", "qcow2"),
    ("qed", "raw", "Image data is qed, but its disk_format is raw", "raw"),
    ("luks", "raw", "Image data is luks, but its disk_format is raw", "raw"),
]


def objects(file_stores):
    return {(store, p.name) for store, root in file_stores.items() for p in root.iterdir()}


def upload(image, path, store_name=None):
    with open(path, "rb") as f:
        services.image_upload(image=image, stream=f, store_name=store_name,
                              expected_size=path.stat().st_size)


def assert_refused_and_nothing_kept(image, file_stores, message):
    image.refresh_from_db()
    assert (image.status, image.size, image.virtual_size) == ("queued", None, None)
    assert not ImageLocation.all_objects.filter(image=image).exists()
    assert objects(file_stores) == set()
    assert message in property_get(image, UPLOAD_ERROR_PROPERTY)


@pytest.mark.parametrize("name, disk_format, qemu_format", GOOD)
def test_a_good_image_becomes_active_with_qemu_imgs_virtual_size(
        file_stores, disk_images, name, disk_format, qemu_format):
    path = disk_images[name]
    image = factories.image(disk_format=disk_format)
    upload(image, path)
    image.refresh_from_db()
    assert image.status == "active"
    assert image.size == path.stat().st_size
    assert image.virtual_size == disk_images.virtual_size(name, qemu_format)
    assert (file_stores["fast"] / image.id).read_bytes() == path.read_bytes()
    assert ImageLocation.objects.filter(image=image).count() == 1


@pytest.mark.parametrize("name, disk_format, message, retry", BAD)
def test_a_refused_image_leaves_nothing_and_a_correct_upload_then_succeeds(
        file_stores, disk_images, name, disk_format, message, retry):
    image = factories.image(disk_format=disk_format)
    with pytest.raises(UnsupportedContent) as info:
        upload(image, disk_images[name], store_name="cheap")
    assert info.value.status == 415
    assert message in info.value.message and "Nothing was kept" in info.value.message
    assert_refused_and_nothing_kept(image, file_stores, message)

    upload(image, disk_images[retry], store_name="cheap")
    image.refresh_from_db()
    assert (image.status, image.size) == ("active", disk_images[retry].stat().st_size)
    assert objects(file_stores) == {("cheap", image.id)}
    assert property_get(image, UPLOAD_ERROR_PROPERTY) is None


class Endless:
    """A stream that starts with `head` and goes on with zeros for `size` bytes, counting
    what was read from it: a huge upload that is never held anywhere."""

    def __init__(self, head, size):
        self.head, self.size, self.read_bytes = head, size, 0

    def read(self, n=-1):
        n = min(n if n and n > 0 else 2**20, self.size - self.read_bytes)
        start, self.read_bytes = self.read_bytes, self.read_bytes + n
        piece = self.head[start:start + n]
        return piece + bytes(n - len(piece))


@pytest.mark.parametrize("name, disk_format", [("qcow2-backing", "qcow2"), ("qcow2", "raw"),
                                               ("raw", "vmdk")])
def test_a_huge_refused_upload_is_stopped_after_its_first_mib(file_stores, disk_images,
                                                              name, disk_format):
    stream = Endless(disk_images[name].read_bytes()[:HEAD_SIZE], 50 * 2**30)
    image = factories.image(disk_format=disk_format)
    with pytest.raises(UnsupportedContent):
        services.image_upload(image=image, stream=stream, expected_size=stream.size)
    # The head, plus at most the store's read in flight.
    assert stream.read_bytes <= HEAD_SIZE + 4 * 2**20
    image.refresh_from_db()
    assert image.status == "queued"
    assert objects(file_stores) == set()


def test_a_package_container_is_not_matched_against_its_disk_format(file_stores):
    # An OVA is a tar file: the disk inside cannot be seen, so it is taken as claimed,
    # with no virtual size.
    data = os.urandom(2 * 2**20)
    image, _ = factories.active_image(data, disk_format="vmdk", container_format="ova")
    image.refresh_from_db()
    assert (image.status, image.virtual_size) == ("active", None)


def test_an_unsafe_image_in_a_package_container_is_still_refused(file_stores, disk_images):
    image = factories.image(disk_format="qcow2", container_format="compressed")
    with pytest.raises(UnsupportedContent, match="backing file"):
        upload(image, disk_images["qcow2-backing"])
    assert_refused_and_nothing_kept(image, file_stores, "backing file")


def test_ploop_cannot_be_verified_but_a_recognised_other_format_is_refused(file_stores,
                                                                         disk_images):
    image = factories.image(disk_format="ploop")
    with pytest.raises(UnsupportedContent, match="qcow2"):
        upload(image, disk_images["qcow2"])
    assert_refused_and_nothing_kept(image, file_stores, "qcow2")
    upload(image, disk_images["raw"])
    image.refresh_from_db()
    assert (image.status, image.virtual_size) == ("active", None)


# glance-direct and web-download ---------------------------------------------------------


def run_import(image, method, stores=("fast", "cheap"), fetch=None, must_succeed=True):
    # copy-image is an admin's call; the other methods are the owner's.
    caller = Caller(project=factories.PROJECT, admin=method["name"] == "copy-image")
    task = image_import(image=image, body={"method": method, "stores": list(stores),
                                           "all_stores_must_succeed": must_succeed},
                        caller=caller)
    return image_import_run(task=task_get(task.id), fetch=fetch)


def test_staging_a_refused_image_is_answered_415_and_stages_nothing(file_stores,
                                                                   disk_images):
    image = factories.image(disk_format="vmdk")
    with open(disk_images["vmdk-split"], "rb") as f, pytest.raises(UnsupportedContent):
        image_stage(image=image, stream=f)
    assert_refused_and_nothing_kept(image, file_stores, "Unsupported subformat")


def test_glance_direct_of_a_good_image_sets_the_virtual_size(file_stores, disk_images):
    image = factories.image(disk_format="vdi")
    with open(disk_images["vdi"], "rb") as f:
        image_stage(image=image, stream=f)
    assert run_import(image, {"name": "glance-direct"})
    image.refresh_from_db()
    assert image.status == "active"
    assert image.virtual_size == disk_images.virtual_size("vdi", "vdi")
    assert objects(file_stores) == {("fast", image.id), ("cheap", image.id)}


@pytest.mark.parametrize("must_succeed", [True, False])
def test_glance_direct_refuses_staged_data_that_is_not_its_disk_format(
        file_stores, disk_images, must_succeed):
    # Staged as raw, then claimed as qcow2 (the row changed behind the API's back): the
    # move into the stores inspects again, and no store takes what one refused.
    image = factories.image(disk_format="raw")
    with open(disk_images["raw"], "rb") as f:
        image_stage(image=image, stream=f)
    Image.objects.filter(pk=image.pk).update(disk_format="qcow2")
    image.refresh_from_db()
    assert not run_import(image, {"name": "glance-direct"}, must_succeed=must_succeed)
    assert_refused_and_nothing_kept(image, file_stores, "Image data is raw")
    (task,) = Task.objects.filter(image_id=image.id)
    assert task.status == "failure" and "Image data is raw" in task.info.message


class FileResponse:
    """What a web-download fetch gives: a sized byte stream (here from a local file)."""

    def __init__(self, path):
        self.length = path.stat().st_size
        self._file = open(path, "rb")
        self.read_bytes = 0

    def read(self, n=-1):
        chunk = self._file.read(n)
        self.read_bytes += len(chunk)
        return chunk


@pytest.mark.parametrize("name, disk_format, good", [
    ("qcow2-data-file", "qcow2", False), ("vhdx", "raw", False), ("vhdx", "vhdx", True)])
def test_web_download_is_inspected_while_it_downloads(file_stores, disk_images, name,
                                                      disk_format, good):
    responses = []

    @contextlib.contextmanager
    def fetch(url):
        responses.append(FileResponse(disk_images[name]))
        yield responses[-1]
        responses[-1]._file.close()

    image = factories.image(disk_format=disk_format)
    assert run_import(image, {"name": "web-download", "uri": "https://example.org/x"},
                      fetch=fetch) is good
    image.refresh_from_db()
    if good:
        assert (image.status, image.virtual_size) == ("active", 64 * 2**20)
        assert objects(file_stores) == {("fast", image.id), ("cheap", image.id)}
    else:
        assert_refused_and_nothing_kept(image, file_stores, "Nothing was kept")
        # The vhdx is 8 MiB: refused as raw after its first MiB and the reads in flight.
        assert responses[0].read_bytes <= HEAD_SIZE + 4 * 2**20


# Swift ----------------------------------------------------------------------------------


@pytest.mark.swift
def test_a_refused_image_leaves_no_object_in_the_swift_container(portal_with_swift,
                                                                 disk_images):
    swift = portal_with_swift
    image = factories.image(disk_format="qcow2")
    with pytest.raises(UnsupportedContent, match="backing file"):
        upload(image, disk_images["qcow2-backing"], store_name="swift")
    assert list(swift.keys()) == []
    image.refresh_from_db()
    assert image.status == "queued"
    assert not ImageLocation.all_objects.filter(image=image).exists()
    upload(image, disk_images["qcow2"], store_name="swift")
    assert list(swift.keys()) == [image.id]


def test_copy_image_of_an_inspected_image_adds_the_copy(file_stores, disk_images):
    image = factories.image(disk_format="qcow2")
    upload(image, disk_images["qcow2"])
    image.refresh_from_db()
    assert run_import(image, {"name": "copy-image"}, stores=("cheap",))
    assert objects(file_stores) == {("fast", image.id), ("cheap", image.id)}
