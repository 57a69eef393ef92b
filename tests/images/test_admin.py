"""The admin shows the image tables to staff, with locations never editable."""
import pytest
from django.contrib.auth import get_user_model

from images.models import StoreWrite
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_(client):
    user = get_user_model().objects.create_superuser("root", password="pw-12345-long")
    client.force_login(user)
    return client


def test_image_page_lists_its_locations_without_credentials(admin_client_, file_stores):
    image, _ = factories.active_image()
    image.locations.create(value="swift+https://a:user:secret@auth.example/v3/glance/x",
                           meta_data={"store": "old"})
    page = admin_client_.get(f"/admin/images/image/{image.id}/change/")
    assert page.status_code == 200
    text = page.content.decode()
    assert f"file://{file_stores['fast']}/{image.id}" in text
    assert "swift+https://auth.example/v3/glance/x" in text
    assert "secret" not in text


def test_location_page_is_searchable_by_image_id_and_read_only(admin_client_, file_stores):
    image, _ = factories.active_image()
    other, _ = factories.active_image()
    page = admin_client_.get("/admin/images/imagelocation/", {"q": image.id})
    text = page.content.decode()
    assert image.id in text and other.id not in text
    assert admin_client_.get("/admin/images/imagelocation/add/").status_code == 403


def test_a_user_who_is_not_staff_is_sent_to_the_login_page(client):
    user = get_user_model().objects.create_user("bob", password="pw-12345-long")
    client.force_login(user)
    response = client.get("/admin/images/image/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_admin_action_removes_a_copy_through_the_service(admin_client_, file_stores):
    image, data = factories.active_image()
    copy = file_stores["cheap"] / image.id
    copy.write_bytes(data)
    image.locations.create(value=f"file://{copy}", meta_data={"store": "cheap"})
    response = admin_client_.post("/admin/images/image/", {
        "action": "remove_cheap", "_selected_action": [image.id]}, follow=True)
    assert response.status_code == 200
    assert not copy.exists()
    assert (file_stores["fast"] / image.id).read_bytes() == data
    assert [loc.store for loc in image.locations.filter(deleted=False)] == ["fast"]


def test_admin_action_refuses_to_remove_the_last_copy(admin_client_, file_stores):
    image, data = factories.active_image()
    response = admin_client_.post("/admin/images/image/", {
        "action": "remove_fast", "_selected_action": [image.id]}, follow=True)
    assert "only copy" in response.content.decode()
    assert (file_stores["fast"] / image.id).read_bytes() == data


def test_admin_lists_images_by_store(admin_client_, file_stores):
    in_fast, _ = factories.active_image()
    in_cheap, _ = factories.active_image(store_name="cheap")
    page = admin_client_.get("/admin/images/image/", {"store": "cheap"}).content.decode()
    assert in_cheap.id in page and in_fast.id not in page


@pytest.fixture
def eager_tasks():
    from portal.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


@pytest.mark.django_db(transaction=True)
def test_admin_action_copies_into_another_store_verified(admin_client_, file_stores,
                                                         eager_tasks):
    image, data = factories.active_image()
    admin_client_.post("/admin/images/image/", {
        "action": "copy_cheap", "_selected_action": [image.id]}, follow=True)
    assert (file_stores["cheap"] / image.id).read_bytes() == data
    assert sorted(loc.store for loc in image.locations.filter(deleted=False)) == ["cheap",
                                                                                  "fast"]


@pytest.mark.parametrize("model", ["image", "imagelocation", "imagemember", "imageproperty",
                                   "imagetag", "task", "auditfinding"])
def test_every_model_has_an_admin_page(admin_client_, file_stores, model):
    factories.active_image(tags=["t"], properties={"os_distro": "cirros"})
    assert admin_client_.get(f"/admin/images/{model}/").status_code == 200


def test_the_write_journal_is_listed_read_only_and_cannot_be_deleted(admin_client_, file_stores):
    image, _ = factories.active_image()
    response = admin_client_.get("/admin/images/storewrite/")
    assert response.status_code == 200 and image.id in response.content.decode()
    row = StoreWrite.objects.get(image_id=image.id)
    assert admin_client_.get(f"/admin/images/storewrite/{row.pk}/delete/").status_code == 403
    assert StoreWrite.objects.filter(pk=row.pk).exists()
