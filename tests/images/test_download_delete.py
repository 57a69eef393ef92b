"""Reading image data back, and deleting images with their data."""
import os

import pytest

from images import services
from images.exceptions import Conflict, Forbidden, NoData, NotFound, StoreFailed
from images.models import Image, ImageLocation, ImageProperty, ImageTag
from images.selectors import image_get
from tests import factories

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.engines]


def read_all(reader):
    with reader:
        return b"".join(reader)


def test_download_streams_the_uploaded_bytes(file_stores):
    image, data = factories.active_image(os.urandom(2 * 2**20 + 1))
    reader, location = services.image_download(image=image)
    assert read_all(reader) == data
    assert location.store == "fast"


def test_download_of_a_byte_range(file_stores):
    image, data = factories.active_image()
    reader, _ = services.image_download(image=image, offset=100, length=50)
    assert read_all(reader) == data[100:150]


def test_download_of_an_image_without_data_says_so(file_stores):
    with pytest.raises(NoData):
        services.image_download(image=factories.image())


def test_download_falls_back_to_another_location_when_one_is_gone(file_stores):
    image, data = factories.active_image()
    copy = file_stores["cheap"] / image.id
    copy.write_bytes(data)
    ImageLocation.objects.create(image=image, value=f"file://{copy}",
                                 meta_data={"store": "cheap"})
    (file_stores["fast"] / image.id).unlink()
    reader, location = services.image_download(image=image)
    assert read_all(reader) == data
    assert location.store == "cheap"


def test_download_prefers_the_stores_asked_for(file_stores):
    image, data = factories.active_image()
    copy = file_stores["cheap"] / image.id
    copy.write_bytes(data)
    ImageLocation.objects.create(image=image, value=f"file://{copy}",
                                 meta_data={"store": "cheap"})
    _, location = services.image_download(image=image, prefer=["cheap"])
    assert location.store == "cheap"
    _, location = services.image_download(image=image)
    assert location.store == "fast"  # the heavier store by default


def test_download_with_every_location_gone_is_a_store_failure(file_stores):
    image, _ = factories.active_image()
    (file_stores["fast"] / image.id).unlink()
    with pytest.raises(StoreFailed):
        services.image_download(image=image)


def test_a_location_outside_its_store_is_never_read(file_stores, tmp_path):
    image, _ = factories.active_image()
    (tmp_path / "passwd").write_bytes(b"root:x:0:0")
    ImageLocation.objects.filter(image=image).update(value=f"file://{tmp_path}/passwd")
    with pytest.raises(StoreFailed):
        services.image_download(image=image)


def test_delete_removes_the_data_and_keeps_the_rows_marked_deleted(file_stores):
    image, _ = factories.active_image(tags=["a"], properties={"os_distro": "cirros"})
    services.image_delete(image=image)
    assert not (file_stores["fast"] / image.id).exists()
    row = Image.all_objects.get(pk=image.pk)
    assert (row.status, row.deleted) == (Image.Status.DELETED, True)
    assert row.deleted_at is not None
    location = ImageLocation.all_objects.get(image=image)
    assert (location.status, location.deleted) == ("deleted", True)
    assert ImageProperty.all_objects.get(image=image).deleted
    assert ImageTag.all_objects.get(image=image).deleted
    with pytest.raises(NotFound):
        image_get(image.id)


def test_a_deleted_image_id_is_never_reused(file_stores):
    image = factories.image()
    services.image_delete(image=image)
    with pytest.raises(Conflict):
        factories.image(id=image.id)


def test_a_protected_image_is_not_deleted(file_stores):
    image, data = factories.active_image(protected=True)
    with pytest.raises(Forbidden):
        services.image_delete(image=image)
    assert (file_stores["fast"] / image.id).read_bytes() == data
    assert Image.objects.filter(pk=image.pk).exists()


def test_lookup_of_a_non_uuid_id_is_not_found():
    with pytest.raises(NotFound):
        image_get("my-image-name")
