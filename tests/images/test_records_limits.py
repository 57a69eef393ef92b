"""Per-image limits (Glance's image_property_quota and image_tag_quota) on create as on update."""
import pytest
from django.test import Client

from accounts.services import user_ensure
from images import services
from images.exceptions import Invalid, TooLarge
from images.models import Image, ImageProperty, ImageTag
from images.services.records import PROPERTY_QUOTA, TAG_QUOTA
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.engines]


@pytest.fixture
def api():
    user = user_ensure(username="limited", project_name="limited-project")
    client = Client(HTTP_ACCEPT="application/json")
    client.force_login(user)
    client.project = user.membership.project_id
    return client


def create(api, body):
    return api.post("/v2/images", {"name": "limits", **body}, content_type="application/json")


def nothing_written():
    return not (Image.all_objects.filter(name="limits").exists()
                or ImageProperty.objects.exists() or ImageTag.objects.exists())


def test_create_with_one_property_past_the_quota_is_413_and_writes_no_row(api):
    properties = {f"p{i}": "v" for i in range(PROPERTY_QUOTA + 1)}
    response = create(api, properties)
    assert response.status_code == 413, response.content
    assert response.json() == {"error": {
        "code": 413, "title": "Request Entity Too Large",
        "message": f"Maximum number of properties ({PROPERTY_QUOTA}) exceeded"}}
    assert nothing_written()


def test_create_with_one_tag_past_the_quota_is_413_and_writes_no_row(api):
    response = create(api, {"tags": [f"t{i}" for i in range(TAG_QUOTA + 1)]})
    assert response.status_code == 413, response.content
    assert response.json()["error"]["message"] == \
        f"Maximum number of tags ({TAG_QUOTA}) exceeded"
    assert nothing_written()


def test_create_at_the_quotas_keeps_every_property_and_tag(api):
    properties = {f"p{i}": "v" for i in range(PROPERTY_QUOTA)}
    tags = [f"t{i}" for i in range(TAG_QUOTA)]
    response = create(api, {**properties, "tags": tags})
    assert response.status_code == 201, response.content
    image = Image.objects.get(pk=response.json()["id"])
    assert ImageProperty.objects.filter(image=image).count() == PROPERTY_QUOTA
    assert sorted(response.json()["tags"]) == sorted(tags)


def test_the_create_service_refuses_past_the_quota_as_update_does():
    with pytest.raises(TooLarge):
        services.image_create(owner="p1", name="limits",
                              properties={f"p{i}": "v" for i in range(PROPERTY_QUOTA + 1)})
    image = factories.image(owner="p1")
    with pytest.raises(TooLarge):
        services.image_update(image=image, set_properties={
            f"p{i}": "v" for i in range(PROPERTY_QUOTA + 1)})
    assert not Image.all_objects.filter(name="limits").exists()


def test_a_tag_too_long_on_create_writes_no_image():
    with pytest.raises(Invalid, match="longer than 255"):
        services.image_create(owner="p1", name="limits", tags=["x" * 256])
    assert nothing_written()
