"""Delayed delete: a deleted image waits in `pending_delete` with its data, hidden from every
user, until the scrubber removes the data; an admin may restore it until then."""
import io

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.test import Client

from accounts.services import user_ensure
from images import services
from images.exceptions import Conflict, NotFound
from images.models import Image, ImageLocation, ImageProperty, ImageTag
from images.services.scrubber import image_restore
from stores import config
from tests import factories

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.engines]


@pytest.fixture
def delayed(settings, file_stores):
    settings.DELAYED_DELETE = True
    settings.SCRUB_TIME = 3600
    return file_stores


@pytest.fixture
def alice():
    return factories.api_client("alice")


@pytest.fixture
def root():
    return factories.api_client("root", admin=True)


def read(image):
    reader, _ = services.image_download(image=image)
    with reader:
        return b"".join(reader)


def test_api_delete_keeps_the_data_and_the_image_is_gone_for_everyone(delayed, alice, root):
    image, data = factories.active_image(owner=alice.project, tags=["keep"])
    assert alice.delete(f"/v2/images/{image.id}").status_code == 204
    # The data stays in the store; the rows say pending_delete, soft-deleted as Glance writes.
    assert (delayed["fast"] / image.id).read_bytes() == data
    row = Image.all_objects.get(pk=image.pk)
    assert (row.status, row.deleted) == (Image.Status.PENDING_DELETE, True)
    (location,) = ImageLocation.all_objects.filter(image=image)
    assert (location.status, location.deleted) == ("pending_delete", True)
    # Glance v2: a deleted image is a 404 and is not listed, for admins too.
    for client in (alice, root):
        assert client.get(f"/v2/images/{image.id}").status_code == 404
        assert client.get(f"/v2/images/{image.id}/file").status_code == 404
        listed = [i["id"] for i in client.get("/v2/images").json()["images"]]
        assert image.id not in listed
    assert alice.delete(f"/v2/images/{image.id}").status_code == 404


def test_an_image_without_data_is_deleted_at_once(delayed):
    image = factories.image()
    services.image_delete(image=image)
    row = Image.all_objects.get(pk=image.pk)
    assert (row.status, row.deleted) == (Image.Status.DELETED, True)


def test_a_deactivated_image_is_deleted_at_once_as_glance_allows(delayed):
    """Glance's state machine has no deactivated → pending_delete: a restore would otherwise
    make a deactivated image downloadable again."""
    image, _ = factories.active_image()
    services.image_deactivate(image=image)
    services.image_delete(image=image)
    assert Image.all_objects.get(pk=image.pk).status == Image.Status.DELETED
    assert list(delayed["fast"].iterdir()) == []


def test_without_delayed_delete_the_data_goes_at_once(file_stores, settings):
    assert settings.DELAYED_DELETE is False  # Glance's default
    image, _ = factories.active_image()
    services.image_delete(image=image)
    assert Image.all_objects.get(pk=image.pk).status == Image.Status.DELETED
    assert not (file_stores["fast"] / image.id).exists()


def test_restore_brings_back_an_active_downloadable_image_as_it_was(delayed, alice):
    image, data = factories.active_image(owner=alice.project, tags=["t1"],
                                         properties={"os_distro": "cirros"})
    services.location_copy(image=image, store_name="cheap")
    services.image_delete(image=image)
    restored = image_restore(image_id=image.id)
    assert restored.status == Image.Status.ACTIVE and not restored.deleted
    assert sorted(loc.store for loc in ImageLocation.objects.filter(
        image=image, status="active")) == ["cheap", "fast"]
    assert read(restored) == data
    assert list(ImageTag.objects.filter(image=image).values_list("value", flat=True)) == ["t1"]
    assert ImageProperty.objects.get(image=image, name="os_distro").value == "cirros"
    body = alice.get(f"/v2/images/{image.id}").json()
    assert (body["status"], body["tags"], body["os_distro"]) == ("active", ["t1"], "cirros")
    assert b"".join(alice.get(f"/v2/images/{image.id}/file").streaming_content) == data


def test_restore_refuses_an_image_that_is_not_pending_delete(delayed):
    image, _ = factories.active_image()
    with pytest.raises(Conflict):
        image_restore(image_id=image.id)
    queued = factories.image()
    services.image_delete(image=queued)  # no data: deleted at once, nothing to restore
    with pytest.raises(Conflict):
        image_restore(image_id=queued.id)
    with pytest.raises(NotFound):
        image_restore(image_id="not-a-uuid")
    assert Image.all_objects.get(pk=queued.pk).status == Image.Status.DELETED


def test_the_id_of_a_deleted_or_pending_delete_image_is_never_reused(delayed, alice):
    pending, _ = factories.active_image(owner=alice.project)
    gone = factories.image(owner=alice.project)
    for image in (pending, gone):
        assert alice.delete(f"/v2/images/{image.id}").status_code == 204
    for image in (pending, gone):
        response = alice.post("/v2/images", {"id": image.id, "name": "again"},
                              content_type="application/json")
        assert response.status_code == 409, response.content
    assert Image.all_objects.filter(name="again").count() == 0


def test_scrub_command_restores_an_image(delayed):
    image, data = factories.active_image()
    out = io.StringIO()
    call_command("image_delete", image.id, stdout=out)
    assert "pending_delete" in out.getvalue()
    assert (delayed["fast"] / image.id).read_bytes() == data
    out = io.StringIO()
    call_command("scrub", "--restore", image.id, stdout=out)
    assert f"Restored {image.id}" in out.getvalue()
    assert read(Image.objects.get(pk=image.pk)) == data
    with pytest.raises(CommandError, match="pending_delete"):
        call_command("scrub", "--restore", image.id)


def test_admin_lists_pending_delete_images_and_restores_them(delayed):
    image, data = factories.active_image(name="to-restore")
    services.image_delete(image=image)
    admin = Client()
    admin.force_login(user_ensure(username="root", admin=True))
    page = admin.get("/admin/images/image/", {"status__exact": "pending_delete"})
    assert image.id in page.content.decode()
    response = admin.post("/admin/images/image/", {
        "action": "restore_images", "_selected_action": [image.id]})
    assert response.status_code == 302
    assert Image.objects.get(pk=image.pk).status == Image.Status.ACTIVE
    assert read(Image.objects.get(pk=image.pk)) == data


def test_admin_delete_goes_through_the_service(delayed):
    image, data = factories.active_image()
    admin = Client()
    admin.force_login(user_ensure(username="root", admin=True))
    response = admin.post(f"/admin/images/image/{image.id}/delete/", {"post": "yes"})
    assert response.status_code == 302
    row = Image.all_objects.get(pk=image.pk)
    assert row.status == Image.Status.PENDING_DELETE  # the row is kept: the id stays taken
    assert (delayed["fast"] / image.id).read_bytes() == data


def test_portal_restore_button_is_for_admins_only(delayed):
    image, data = factories.active_image(owner=user_ensure(
        username="alice", project_name="alice-project").membership.project_id)
    services.image_delete(image=image)
    alice, root = Client(), Client()
    alice.force_login(user_ensure(username="alice"))
    root.force_login(user_ensure(username="root", admin=True))
    assert alice.get(f"/images/{image.id}/").status_code == 404
    assert alice.post(f"/images/{image.id}/restore/").status_code == 404
    assert Image.all_objects.get(pk=image.pk).status == Image.Status.PENDING_DELETE
    listing = root.get("/images/", {"status": "pending_delete"}).content.decode()
    assert image.id in listing
    page = root.get(f"/images/{image.id}/").content.decode()
    assert 'id="restore"' in page and 'id="delete-image"' not in page
    assert f"{delayed['fast']}/{image.id}" in page  # where the data still is
    assert root.post(f"/images/{image.id}/restore/").status_code == 302
    assert Image.objects.get(pk=image.pk).status == Image.Status.ACTIVE
    assert read(Image.objects.get(pk=image.pk)) == data


def test_config_reads_delayed_delete_and_scrub_time(tmp_path):
    def parse(**top):
        raw = {"stores": {"file": {"backend": "file", "root": str(tmp_path)}}, **top}
        return config.parse(raw, environ={}, base_dir=tmp_path)["SCRUBBER"]

    assert parse() == {"DELAYED_DELETE": False, "SCRUB_TIME": 0, "LEFTOVER_AGE": 86400,
                       "STALE_UPLOAD_AGE": 86400}
    assert parse(delayed_delete=True, scrub_time=600)["DELAYED_DELETE"] is True
    assert parse(delayed_delete=True, scrub_time=600)["SCRUB_TIME"] == 600
    for bad in ({"delayed_delete": "yes"}, {"scrub_time": -1}, {"leftover_age": "1d"}):
        with pytest.raises(ImproperlyConfigured, match=next(iter(bad))):
            parse(**bad)
