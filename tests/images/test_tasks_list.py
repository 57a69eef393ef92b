"""`GET /v2/tasks`: an admin's list of every task, paged, sorted and filtered as Glance's."""
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from images.models import Task, TaskInfo
from tests import factories

pytestmark = [pytest.mark.django_db, pytest.mark.engines]


@pytest.fixture
def admin():
    return factories.api_client("tasks-admin", admin=True)


def task(owner, *, minutes_ago, status="success", **fields):
    created = timezone.now() - timedelta(minutes=minutes_ago)
    fields.setdefault("expires_at", created + timedelta(hours=48))
    fields.setdefault("image_id", "8d0a2b4e-0000-4000-8000-0000000000aa")
    made = Task.objects.create(owner=owner, status=status, created_at=created,
                               updated_at=created, **fields)
    TaskInfo.objects.create(task=made, input={"image_id": made.image_id}, result={},
                            message="")
    return made


def test_an_admin_lists_every_projects_tasks_newest_first_without_their_details(admin):
    old = task("project-a", minutes_ago=30)
    new = task("project-b", minutes_ago=5, status="failure")
    response = admin.get("/v2/tasks")
    assert response.status_code == 200, response.content
    body = response.json()
    assert [t["id"] for t in body["tasks"]] == [new.id, old.id]
    assert body["first"] == "/v2/tasks" and body["schema"] == "/v2/schemas/tasks"
    assert "next" not in body
    listed = body["tasks"][0]
    assert set(listed) == {"id", "type", "status", "owner", "created_at", "updated_at",
                           "expires_at", "self", "schema"}
    assert (listed["type"], listed["status"], listed["owner"], listed["self"]) == \
        ("api_image_import", "failure", "project-b", f"/v2/tasks/{new.id}")


def test_a_non_admin_may_not_list_tasks(admin):
    task(admin.project, minutes_ago=1)
    user = factories.api_client("tasks-user")
    response = user.get("/v2/tasks")
    assert response.status_code == 403
    assert "tasks_api_access" in response.json()["error"]["message"]


def test_a_full_page_links_the_next_one_until_every_task_has_been_listed(admin):
    made = [task("project-a", minutes_ago=m) for m in (1, 2, 3, 4, 5)]
    seen, url, pages = [], "/v2/tasks?limit=2&sort_dir=asc", 0
    while url:
        body = admin.get(url).json()
        assert body["first"] == "/v2/tasks?limit=2&sort_dir=asc"
        seen += [t["id"] for t in body["tasks"]]
        url, pages = body.get("next"), pages + 1
        if url:
            assert parse_qs(urlsplit(url).query)["marker"] == [body["tasks"][-1]["id"]]
    assert seen == [t.id for t in reversed(made)]
    assert pages == 3  # two full pages, then the last task alone


def test_a_full_last_page_still_links_an_empty_next_one_as_glance_does(admin):
    made = [task("project-a", minutes_ago=m) for m in (1, 2)]
    body = admin.get("/v2/tasks?limit=2").json()
    assert [t["id"] for t in body["tasks"]] == [t.id for t in made]
    after = admin.get(body["next"]).json()
    assert after["tasks"] == [] and "next" not in after


def test_tasks_sort_by_the_asked_key_then_by_creation(admin):
    a = task("project-a", minutes_ago=3, status="success")
    b = task("project-b", minutes_ago=2, status="failure")
    c = task("project-a", minutes_ago=1, status="failure")
    body = admin.get("/v2/tasks?sort_key=status&sort_dir=asc").json()
    assert [t["id"] for t in body["tasks"]] == [b.id, c.id, a.id]
    body = admin.get("/v2/tasks?sort_key=owner&sort_dir=desc").json()
    assert [t["id"] for t in body["tasks"]] == [b.id, c.id, a.id]


def test_tasks_filter_by_status_type_and_image(admin):
    done = task("project-a", minutes_ago=2)
    failed = task("project-a", minutes_ago=1, status="failure")
    other = task("project-a", minutes_ago=3, image_id="8d0a2b4e-0000-4000-8000-0000000000bb")

    def ids(query):
        response = admin.get(f"/v2/tasks?{query}")
        assert response.status_code == 200, response.content
        return [t["id"] for t in response.json()["tasks"]]

    assert ids("status=failure") == [failed.id]
    assert ids("status=success") == [done.id, other.id]
    assert ids("type=api_image_import") == [failed.id, done.id, other.id]
    assert ids("type=import") == []
    assert ids(f"image_id={other.image_id}") == [other.id]


def test_deleted_and_expired_tasks_are_not_listed(admin):
    kept = task("project-a", minutes_ago=1)
    task("project-a", minutes_ago=2, deleted=True, deleted_at=timezone.now())
    task("project-a", minutes_ago=3, expires_at=timezone.now() - timedelta(seconds=1))
    assert [t["id"] for t in admin.get("/v2/tasks").json()["tasks"]] == [kept.id]


@pytest.mark.parametrize("query, message", [
    ("status=done", "Invalid status value: done"),
    ("type=copy", "Invalid type value: copy"),
    ("sort_dir=up", "Invalid sort direction: up"),
    ("sort_key=input", "Sort key supplied is invalid: input"),
    ("limit=-1", "limit param must be positive"),
    ("limit=ten", "limit param must be an integer"),
    ("marker=not-a-uuid", "Invalid marker format"),
    ("marker=8d0a2b4e-0000-4000-8000-000000000000", "could not be found"),
])
def test_bad_list_parameters_are_400_naming_the_problem(admin, query, message):
    task("project-a", minutes_ago=1)
    response = admin.get(f"/v2/tasks?{query}")
    assert response.status_code == 400
    assert message in response.json()["error"]["message"]


def test_the_tasks_schema_lists_tasks_without_input_result_or_message(client):
    schema = client.get("/v2/schemas/tasks").json()
    assert schema["name"] == "tasks"
    listed = schema["properties"]["tasks"]["items"]["properties"]
    assert {"id", "type", "status", "owner", "created_at", "self"} <= set(listed)
    assert not {"input", "result", "message"} & set(listed)
    assert {link["rel"] for link in schema["links"]} == {"first", "next", "describedby"}
