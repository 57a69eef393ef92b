"""Listing images: filters, sorting and marker paging, in a fixed number of queries."""
import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.services import user_ensure
from images import services
from images.models import ImageLocation
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.engines]


@pytest.fixture
def api(client):
    user = user_ensure(username="lister", project_name="listers")
    client.force_login(user)
    client.project = user.membership.project_id
    return client


def many_images(project, count):
    images = []
    for i in range(count):
        image = factories.image(owner=project, name=f"img-{i:03d}", tags=[f"t{i % 3}", "all"],
                                properties={"os_distro": "cirros", "n": str(i)})
        ImageLocation.objects.create(image=image, value=f"file:///x/{image.id}",
                                     meta_data={"store": "fast"})
        images.append(image)
    return images


def queries_for(api, url):
    with CaptureQueriesContext(connection) as captured:
        response = api.get(url)
    assert response.status_code == 200, response.content
    return len(captured), response.json()


def test_a_page_costs_the_same_queries_whatever_its_size(api):
    many_images(api.project, 30)
    small, body_small = queries_for(api, "/v2/images?limit=5")
    large, body_large = queries_for(api, "/v2/images?limit=30")
    assert len(body_small["images"]) == 5 and len(body_large["images"]) == 30
    assert small == large
    assert large <= 12


def test_marker_paging_walks_every_image_once_in_sort_order(api):
    created = many_images(api.project, 7)
    seen, url = [], "/v2/images?limit=3&sort_key=name&sort_dir=asc"
    while url:
        body = api.get(url).json()
        seen += [image["name"] for image in body["images"]]
        url = body.get("next")
    assert seen == sorted(image.name for image in created)


def test_sorting_on_a_nullable_key_pages_without_losing_images(api):
    created = many_images(api.project, 4)
    for image in created[:2]:
        services.image_update(image=image, changes={"name": None})
    seen, url = [], "/v2/images?limit=1&sort_key=name&sort_dir=desc"
    while url:
        body = api.get(url).json()
        seen += [image["id"] for image in body["images"]]
        url = body.get("next")
    assert sorted(seen) == sorted(image.id for image in created)


def test_filters_by_property_tag_and_in_list(api):
    created = many_images(api.project, 6)
    by_prop = api.get("/v2/images?n=4").json()["images"]
    assert [image["id"] for image in by_prop] == [created[4].id]
    by_tag = api.get("/v2/images?tag=t1&tag=all").json()["images"]
    assert {image["id"] for image in by_tag} == {created[1].id, created[4].id}
    by_name = api.get('/v2/images?name=in:img-000,img-002').json()["images"]
    assert {image["name"] for image in by_name} == {"img-000", "img-002"}


@pytest.mark.parametrize("query", ["limit=-1", "limit=abc", "sort_key=owner", "sort_dir=up",
                                   "sort=name:asc&sort_key=name", "changes-since=2020-01-01",
                                   "visibility=everyone", "protected=maybe",
                                   "marker=8d0a2b4e-0000-4000-8000-000000000000",
                                   "name=gt:a", "size_min=x", "created_at=lt:notatime"])
def test_bad_list_parameters_are_400(api, query):
    response = api.get(f"/v2/images?{query}")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == 400


def test_other_projects_private_images_are_not_listed(api):
    mine = factories.image(owner=api.project, visibility="private")
    other = factories.image(owner="someone-else", visibility="private")
    public = factories.image(owner="someone-else", visibility="public")
    ids = {image["id"] for image in api.get("/v2/images").json()["images"]}
    assert mine.id in ids and public.id in ids and other.id not in ids
    assert get_user_model().objects.filter(username="lister").exists()


def test_a_marker_the_caller_cannot_see_is_400_as_a_missing_one(api):
    """Another project's private image as marker is answered as an unknown id: no page that
    would show where it sorts."""
    user = user_ensure(username="other-lister", project_name="other-listers")
    other = factories.image(owner=user.membership.project_id, visibility="private",
                            name="m-hidden")
    mine = [factories.image(owner=api.project, visibility="private", name=f"m-{c}")
            for c in "az"]
    missing = "8d0a2b4e-0000-4000-8000-000000000000"
    answers = {}
    for marker in (other.id, missing):
        response = api.get(f"/v2/images?sort_key=name&sort_dir=asc&marker={marker}")
        assert response.status_code == 400, response.content
        answers[marker] = response.json()["error"]
        assert marker in answers[marker]["message"]
    assert answers[other.id]["message"].replace(other.id, "X") == \
        answers[missing]["message"].replace(missing, "X")
    # Its owner pages after it as before.
    owner = Client()
    owner.force_login(user)
    assert owner.get(f"/v2/images?marker={other.id}").status_code == 200
    # The caller's own image is a marker as before.
    page = api.get(f"/v2/images?sort_key=name&sort_dir=asc&marker={mine[0].id}").json()
    assert [image["name"] for image in page["images"]] == ["m-z"]


def test_a_page_holds_limit_param_default_images_and_never_more_than_api_limit_max(
        api, settings):
    settings.LIMIT_PARAM_DEFAULT, settings.API_LIMIT_MAX = 2, 3
    many_images(api.project, 5)
    assert len(api.get("/v2/images").json()["images"]) == 2
    assert len(api.get("/v2/images?limit=100").json()["images"]) == 3
    assert len(api.get("/v1/images/detail?limit=100").json()["images"]) == 3
