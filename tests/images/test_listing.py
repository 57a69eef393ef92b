"""Listing images: filters, sorting and marker paging, in a fixed number of queries."""
import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.services import user_ensure
from images import services
from images.models import Image, ImageLocation
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
    many_images(api.project, 50)
    small, body_small = queries_for(api, "/v2/images?limit=5")
    large, body_large = queries_for(api, "/v2/images?limit=50")
    assert len(body_small["images"]) == 5 and len(body_large["images"]) == 50
    assert small == large
    assert large <= 12
    # After a marker too: the marker's row is one more query, whatever the size.
    marker = body_small["images"][-1]["id"]
    small_after, _ = queries_for(api, f"/v2/images?limit=5&marker={marker}")
    large_after, body_after = queries_for(api, f"/v2/images?limit=50&marker={marker}")
    assert len(body_after["images"]) == 45
    assert small_after == large_after == large + 1


def page_queries(api, url):
    with CaptureQueriesContext(connection) as captured:
        response = api.get(url)
    assert response.status_code == 200
    return len(captured), response.content.decode().count("<tr data-image-id=")


def test_the_images_page_costs_the_same_queries_whatever_its_size(api, monkeypatch):
    """No COUNT(*) of every match and no query per row: one read of the page, one of its
    images' locations."""
    many_images(api.project, 50)
    monkeypatch.setattr("images.views.PAGE_SIZE", 5)
    small, shown_small = page_queries(api, "/images/?sort=name&dir=asc")
    monkeypatch.setattr("images.views.PAGE_SIZE", 50)
    large, shown_large = page_queries(api, "/images/?sort=name&dir=asc")
    assert (shown_small, shown_large) == (5, 50)
    assert small == large
    with CaptureQueriesContext(connection) as captured:
        api.get("/images/?q=img-0")
    assert not [q for q in captured if "COUNT(" in q["sql"].upper()]


def test_the_images_page_links_to_the_next_page_only_when_there_is_one(api, monkeypatch):
    many_images(api.project, 7)
    monkeypatch.setattr("images.views.PAGE_SIZE", 3)
    pages = []
    for number in (1, 2, 3):
        html = api.get(f"/images/?sort=name&dir=asc&page={number}").content.decode()
        pages.append((html.count("<tr data-image-id="), 'rel="next"' in html,
                      'rel="prev"' in html, f"Page {number}" in html))
    assert pages == [(3, True, False, True), (3, True, True, True), (1, False, True, True)]
    names = [api.get(f"/images/?sort=name&dir=asc&page={n}").content.decode() for n in (1, 3)]
    assert "img-000" in names[0] and "img-006" in names[1]


@pytest.mark.parametrize("sort", ["sort_key=name&sort_dir=asc", "sort_key=size&sort_dir=desc",
                                  "sort_key=created_at&sort_dir=asc", "sort_key=status",
                                  "sort=name:desc,size:asc", ""])
def test_marker_paging_through_ties_walks_every_image_once(api, sort):
    """Images sharing the first key's value (a name, a size, a creation time) are paged by
    the next keys: none is skipped or repeated at a page's edge."""
    moment = timezone.now()
    created = []
    for i in range(7):
        image = factories.image(owner=api.project, name=f"tie-{i % 2}")
        Image.objects.filter(pk=image.pk).update(size=100 * (i % 3), created_at=moment)
        created.append(image.id)
    seen, url = [], f"/v2/images?limit=2&{sort}"
    while url:
        body = api.get(url).json()
        seen += [image["id"] for image in body["images"]]
        url = body.get("next")
    assert sorted(seen) == sorted(created)
    everything = api.get(f"/v2/images?limit=100&{sort}").json()["images"]
    assert seen == [image["id"] for image in everything]


def test_the_list_indexes_are_there():
    """The migration's indexes beside Glance's: the default order, a property, a tag and,
    where the database indexes expressions, the name order."""
    with connection.cursor() as cursor:
        names = {name for table in ("images", "image_properties", "image_tags")
                 for name in connection.introspection.get_constraints(cursor, table)}
    wanted = {"images_created_at_id_idx", "image_properties_name_value_idx",
              "image_tags_value_image_id_idx", "checksum_image_idx", "ix_image_tags_image_id"}
    if connection.vendor != "mysql":
        wanted.add("images_name_sort_idx")
    assert wanted <= names


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
