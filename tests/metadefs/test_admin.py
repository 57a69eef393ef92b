"""The admin lists the metadata definitions to staff, the standard resource types undeletable."""
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from metadefs.models import Namespace, ResourceType
from tests.metadefs.test_load import DATA

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    client.force_login(get_user_model().objects.create_superuser("root", password="pw-12345-long"))
    return client


def test_a_namespace_page_shows_its_properties_tags_and_resource_types(staff):
    call_command("load_metadefs", str(DATA), stdout=open("/dev/null", "w"))
    namespace = Namespace.objects.get(namespace="OS::Portal::Boot")
    assert "OS::Portal::Boot" in staff.get("/admin/metadefs/namespace/").content.decode()
    page = staff.get(f"/admin/metadefs/namespace/{namespace.id}/change/")
    text = page.content.decode()
    assert page.status_code == 200
    assert "secure_boot" in text and "bootable" in text and "OS::Glance::Image (os_)" in text


def test_a_protected_resource_type_cannot_be_deleted_from_the_admin(staff):
    image = ResourceType.objects.get(name="OS::Glance::Image")
    assert staff.get(f"/admin/metadefs/resourcetype/{image.id}/delete/").status_code == 403
    other = ResourceType.objects.create(name="OS::Test::Free")
    assert staff.get(f"/admin/metadefs/resourcetype/{other.id}/delete/").status_code == 200


def test_a_namespace_is_deleted_from_the_admin_with_everything_in_it(staff):
    call_command("load_metadefs", str(DATA), stdout=open("/dev/null", "w"))
    namespace = Namespace.objects.get(namespace="OS::Portal::Boot")
    url = f"/admin/metadefs/namespace/{namespace.id}/delete/"
    assert staff.get(url).status_code == 200
    assert staff.post(url, {"post": "yes"}).status_code == 302
    assert not Namespace.objects.filter(namespace="OS::Portal::Boot").exists()
    assert ResourceType.objects.filter(name="OS::Glance::Image").exists()
