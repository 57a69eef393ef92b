"""Uploading image data: one streaming pass into a store, and what each failure leaves."""
import hashlib
import io
import os
import threading

import pytest

from images import services
from images.exceptions import Conflict, Invalid, NotFound, StoreFailed, TooLarge
from images.models import Image, ImageLocation
from stores.exceptions import StreamError
from tests import factories

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.engines]


def store_files(root):
    return sorted(p.name for p in root.iterdir())


def test_upload_makes_the_image_active_with_checksums_and_one_location(file_stores):
    data = os.urandom(3 * 2**20 + 5)
    image, _ = factories.active_image(data, store_name="cheap")
    image.refresh_from_db()
    assert image.status == Image.Status.ACTIVE
    assert image.size == len(data)
    assert image.checksum == hashlib.md5(data).hexdigest()
    assert (image.os_hash_algo, image.os_hash_value) == ("sha512", hashlib.sha512(data).hexdigest())
    assert image.virtual_size == len(data)  # raw
    (location,) = ImageLocation.objects.filter(image=image)
    assert location.value == f"file://{file_stores['cheap']}/{image.id}"
    assert location.meta_data == {"store": "cheap"}
    assert (file_stores["cheap"] / image.id).read_bytes() == data


def test_upload_without_a_store_goes_to_the_default_store(file_stores):
    image, _ = factories.active_image()
    assert store_files(file_stores["fast"]) == [image.id]
    assert store_files(file_stores["cheap"]) == []


def test_unknown_store_is_refused_naming_the_known_stores_and_writes_nothing(file_stores):
    image = factories.image()
    with pytest.raises(Invalid) as info:
        services.image_upload(image=image, stream=io.BytesIO(b"data"), store_name="nope")
    assert "Unknown store 'nope'" in info.value.message
    assert "fast, cheap" in info.value.message
    image.refresh_from_db()
    assert image.status == Image.Status.QUEUED
    assert not ImageLocation.all_objects.filter(image=image).exists()
    assert store_files(file_stores["fast"]) == store_files(file_stores["cheap"]) == []


def test_upload_past_the_size_cap_is_stopped_and_leaves_nothing(file_stores, settings):
    settings.IMAGE_SIZE_CAP = 2**20
    image = factories.image()
    with pytest.raises(TooLarge):
        services.image_upload(image=image, stream=io.BytesIO(os.urandom(2**20 + 1)))
    image.refresh_from_db()
    assert (image.status, image.size, image.checksum) == (Image.Status.QUEUED, None, None)
    assert store_files(file_stores["fast"]) == []
    assert not ImageLocation.all_objects.filter(image=image).exists()


def test_announced_size_larger_than_the_cap_is_refused_before_reading(file_stores, settings):
    settings.IMAGE_SIZE_CAP = 100

    class Untouchable:
        def read(self, n=-1):
            raise AssertionError("the body must not be read")

    image = factories.image()
    with pytest.raises(TooLarge):
        services.image_upload(image=image, stream=Untouchable(), expected_size=101)
    image.refresh_from_db()
    assert image.status == Image.Status.QUEUED


def test_data_shorter_than_the_announced_size_is_refused_and_removed(file_stores):
    image = factories.image()
    with pytest.raises(Invalid) as info:
        services.image_upload(image=image, stream=io.BytesIO(b"x" * 10), expected_size=11)
    assert "announced size of 11" in info.value.message
    image.refresh_from_db()
    assert image.status == Image.Status.QUEUED
    assert store_files(file_stores["fast"]) == []


def test_a_client_that_disconnects_half_way_leaves_the_image_queued_and_no_data(file_stores):
    class Disconnecting:
        def __init__(self):
            self.sent = 0

        def read(self, n=-1):
            if self.sent >= 2**20:
                raise StreamError("client disconnected")
            self.sent += n
            return b"x" * n

    image = factories.image()
    with pytest.raises(StreamError):
        services.image_upload(image=image, stream=Disconnecting())
    image.refresh_from_db()
    assert image.status == Image.Status.QUEUED
    assert store_files(file_stores["fast"]) == []
    # ... and a new upload of the same image works.
    services.image_upload(image=image, stream=io.BytesIO(b"fine"))
    image.refresh_from_db()
    assert image.status == Image.Status.ACTIVE and image.size == 4


def test_upload_to_an_active_image_is_a_conflict_and_changes_nothing(file_stores):
    image, data = factories.active_image()
    with pytest.raises(Conflict):
        services.image_upload(image=image, stream=io.BytesIO(b"other"))
    image.refresh_from_db()
    assert image.status == Image.Status.ACTIVE
    assert (file_stores["fast"] / image.id).read_bytes() == data
    assert ImageLocation.objects.filter(image=image).count() == 1


def test_upload_needs_disk_and_container_format(file_stores):
    image = factories.image(disk_format=None)
    with pytest.raises(Invalid) as info:
        services.image_upload(image=image, stream=io.BytesIO(b"x"))
    assert "disk_format and container_format" in info.value.message


def test_of_two_concurrent_uploads_exactly_one_wins(file_stores):
    """The first upload is held mid-stream while the second starts: the second is a conflict
    and leaves nothing; the first completes with its own bytes."""
    image = factories.image()
    first_data = os.urandom(2 * 2**20)
    started, release = threading.Event(), threading.Event()

    class HeldStream(io.BytesIO):
        def read(self, n=-1):
            chunk = super().read(n)
            if self.tell() >= 2**20 and not release.is_set():
                started.set()
                release.wait(10)
            return chunk

    errors = []

    def first():
        try:
            services.image_upload(image=Image.objects.get(pk=image.pk),
                                  stream=HeldStream(first_data))
        except Exception as exc:  # reported below
            errors.append(exc)

    thread = threading.Thread(target=first)
    thread.start()
    assert started.wait(10)
    with pytest.raises(Conflict):
        services.image_upload(image=Image.objects.get(pk=image.pk),
                              stream=io.BytesIO(b"second"), store_name="cheap")
    release.set()
    thread.join(10)
    assert errors == []
    image.refresh_from_db()
    assert image.status == Image.Status.ACTIVE
    assert image.checksum == hashlib.md5(first_data).hexdigest()
    assert store_files(file_stores["cheap"]) == []
    assert ImageLocation.objects.filter(image=image).count() == 1


def test_a_deleted_image_cannot_receive_data(file_stores):
    image = factories.image()
    services.image_delete(image=image)
    with pytest.raises(NotFound):
        services.image_upload(image=image, stream=io.BytesIO(b"x"))
    assert store_files(file_stores["fast"]) == []


@pytest.mark.swift
def test_swift_object_server_failing_mid_upload_leaves_nothing_and_names_the_store(
        portal_with_swift, swift_aio):
    image = factories.image()

    class StopsSwift(io.BytesIO):
        def read(self, n=-1):
            if self.tell() >= 2**20 and not getattr(self, "stopped", False):
                self.stopped = True
                swift_aio.stop("object")
            return super().read(n)

    with pytest.raises(StoreFailed) as info:
        services.image_upload(image=image, stream=StopsSwift(os.urandom(4 * 2**20)),
                              store_name="swift")
    assert "swift" in info.value.message
    swift_aio.start()
    image.refresh_from_db()
    assert (image.status, image.size, image.checksum) == (Image.Status.QUEUED, None, None)
    assert not ImageLocation.all_objects.filter(image=image).exists()
    assert list(portal_with_swift.keys()) == []
