"""The admin shows the image tables to staff, with locations never editable."""
import pytest
from django.contrib.auth import get_user_model

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
