"""Glance's Swift large objects (segments `<id>-00001`… beside a zero-byte manifest with
X-Object-Manifest), built in the Swift all-in-one exactly as glance_store writes them: the
portal reads, audits, copies and deletes them, and never calls a segment an orphan."""
import hashlib
import os

import pytest
from django.utils import timezone

from images import services
from images.models import Image, ImageLocation
from images.selectors import Caller
from images.services.audit import audit_run, store_orphans
from images.services.imports import image_import, image_import_run, task_get
from images.services.scrubber import leftovers_scrub, scrub_run
from tests import factories
from tests.factories import api_client
from tests.stores.glance_dlo import glance_dlo_write

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.swift]

MiB = 2**20
DATA_SIZE = 3 * MiB + 12345


@pytest.fixture
def glance_image(portal_with_swift, swift, swift_container):
    """An active image whose one location is a Glance large object in the Swift store, as
    import_glance_db records it; also someone else's large object nobody references."""
    data = os.urandom(DATA_SIZE)
    image = factories.image()
    glance_dlo_write(swift, swift_container, image.id, data, MiB)
    Image.objects.filter(pk=image.pk).update(
        status=Image.Status.ACTIVE, size=len(data), checksum=hashlib.md5(data).hexdigest(),
        os_hash_algo="sha512", os_hash_value=hashlib.sha512(data).hexdigest())
    ImageLocation.objects.create(image=image, value=portal_with_swift.uri_for(image.id),
                                 meta_data={"store": "swift"})
    stranger = "4f1c0e2a-7b7d-4f2e-a1c3-5d6e7f809a1b"
    glance_dlo_write(swift, swift_container, stranger, b"s" * (2 * MiB + 1), MiB)
    image.refresh_from_db()
    return image, data, stranger


def objects(swift, container):
    return sorted(o["name"] for o in swift.get_container(container, full_listing=True)[1])


def test_a_glance_large_object_is_ok_deep_and_its_segments_are_no_orphans(glance_image):
    image, _, stranger = glance_image
    findings = audit_run(store_name="swift", deep=True)
    ours = [f for f in findings if f.image_id == image.id]
    assert [f.finding for f in ours] == ["ok"]
    unreferenced = sorted((f.finding, f.location.rsplit("/", 1)[1])
                          for f in findings if f.image_id is None)
    # The unreferenced large object's manifest and segments are someone else's, all three.
    assert unreferenced == [("foreign", stranger), ("foreign", f"{stranger}-00001"),
                            ("foreign", f"{stranger}-00002"), ("foreign", f"{stranger}-00003")]


def test_a_glance_large_object_downloads_whole_and_in_ranges_through_the_api(glance_image):
    image, data, _ = glance_image
    client = api_client("root", admin=True)
    response = client.get(f"/v2/images/{image.id}/file")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == data
    response = client.get(f"/v2/images/{image.id}/file", HTTP_RANGE=f"bytes={MiB - 5}-{MiB + 4}")
    assert response.status_code == 206
    assert b"".join(response.streaming_content) == data[MiB - 5:MiB + 5]


def test_a_glance_large_object_is_copied_by_copy_image_and_verified(glance_image, file_stores):
    image, data, _ = glance_image
    task = image_import(image=image, body={"method": {"name": "copy-image"},
                                           "stores": ["cheap"]},
                        caller=Caller(project=factories.PROJECT, admin=True))
    assert image_import_run(task=task_get(task.id))
    assert (file_stores["cheap"] / image.id).read_bytes() == data
    assert sorted(loc.store for loc in ImageLocation.objects.filter(image=image)) == [
        "cheap", "swift"]


def test_deleting_the_image_removes_its_segments_then_its_manifest_and_nothing_else(
        glance_image, swift, swift_container):
    image, _, stranger = glance_image
    client = api_client("root", admin=True)
    assert client.delete(f"/v2/images/{image.id}").status_code == 204
    assert objects(swift, swift_container) == [stranger] + [
        f"{stranger}-0000{n}" for n in (1, 2, 3)]


def test_the_scrubber_removes_a_deleted_large_object_whole_and_keeps_foreign_ones(
        glance_image, swift, swift_container, settings):
    image, _, stranger = glance_image
    settings.DELAYED_DELETE, settings.SCRUB_TIME, settings.LEFTOVER_AGE = True, 0, 0
    services.image_delete(image=image)
    assert len(objects(swift, swift_container)) == 5 + 4  # kept for the scrubber
    assert store_orphans(services.store_get("swift")) != []  # the stranger's, reported
    report = scrub_run(now=timezone.now())
    assert [image_id for image_id, _, _ in report.removed] == [image.id]
    leftovers_scrub(now=timezone.now())
    assert objects(swift, swift_container) == [stranger] + [
        f"{stranger}-0000{n}" for n in (1, 2, 3)]


def test_a_multi_tenant_glance_location_is_unknown_store_and_never_touched(
        portal_with_swift, swift, swift_container):
    image = factories.image()
    tenant_container = f"{swift_container}_{image.id[:8]}"  # a container per image
    swift.put_container(tenant_container)
    swift.put_object(tenant_container, image.id, b"tenant data")
    Image.objects.filter(pk=image.pk).update(status=Image.Status.ACTIVE, size=11)
    location = ImageLocation.objects.create(
        image=image, meta_data={"store": "swift"},
        value=f"swift+http://127.0.0.1:8080/v1/AUTH_test/{tenant_container}/{image.id}")
    try:
        [finding] = [f for f in audit_run() if f.image_id == image.id]
        assert finding.finding == "unknown_store"
        services.image_delete(image=Image.objects.get(pk=image.pk))
        location.refresh_from_db()
        assert location.status == ImageLocation.Status.PENDING_DELETE
        assert swift.get_object(tenant_container, image.id)[1] == b"tenant data"
    finally:
        swift.delete_object(tenant_container, image.id)
        swift.delete_container(tenant_container)
