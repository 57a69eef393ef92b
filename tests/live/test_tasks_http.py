"""Tasks over HTTP: an import's task carries the request id of the answer that created it,
and an admin lists every task with `GET /v2/tasks` (the glance CLI's `task-list`)."""
import os
import uuid

import pytest

from tests.live.clients import (OCTET, create_image, glance, list_table, show_image,
                                wait_until)

pytestmark = pytest.mark.live


def staged_import(api, headers=None):
    """A glance-direct import of a staged image, waited for; (image, the import's answer)."""
    image = create_image(api, name="task-request-ids")
    staged = api.put(api.base + f"/v2/images/{image['id']}/stage", data=os.urandom(4096),
                     headers=OCTET)
    assert staged.status_code == 204, staged.text
    answer = api.post(api.base + f"/v2/images/{image['id']}/import",
                      json={"method": {"name": "glance-direct"}}, headers=headers or {})
    assert answer.status_code == 202, answer.text
    wait_until(lambda: show_image(api, image["id"])["status"] == "active",
               message="the glance-direct import")
    return image, answer


def image_tasks(api, image_id):
    response = api.get(api.base + f"/v2/images/{image_id}/tasks")
    assert response.status_code == 200, response.text
    return response.json()["tasks"]


def test_each_imports_task_carries_the_request_id_of_its_answer(alice, admin):
    image, imported = staged_import(alice)
    copied = admin.post(admin.base + f"/v2/images/{image['id']}/import",
                        json={"method": {"name": "copy-image"}, "stores": ["cheap"]})
    assert copied.status_code == 202, copied.text
    wait_until(lambda: "cheap" in show_image(alice, image["id"]).get("stores", ""),
               message="the copy into cheap")
    answered = {imported.headers["x-openstack-request-id"],
                copied.headers["x-openstack-request-id"]}
    assert len(answered) == 2
    assert {task["request_id"] for task in image_tasks(alice, image["id"])} == answered


def test_a_task_started_with_the_clients_request_id_carries_the_id_answered(alice):
    sent = f"req-{uuid.uuid4()}"
    image, imported = staged_import(alice, {"X-Openstack-Request-Id": sent})
    [task] = image_tasks(alice, image["id"])
    assert task["request_id"] == imported.headers["x-openstack-request-id"]


def test_an_admin_lists_every_task_page_by_page_and_a_user_is_refused(alice, admin,
                                                                      live_portal, tmp_path):
    image, _ = staged_import(alice)
    [task] = image_tasks(alice, image["id"])
    ids, url = [], admin.base + "/v2/tasks?limit=1&sort_dir=desc"
    while url:
        response = admin.get(url)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["tasks"]) <= 1 and page["schema"] == "/v2/schemas/tasks"
        ids += [listed["id"] for listed in page["tasks"]]
        url = admin.base + page["next"] if page.get("next") else None
    assert task["id"] in ids and len(ids) == len(set(ids))

    refused = alice.get(alice.base + "/v2/tasks")
    assert refused.status_code == 403
    assert "tasks_api_access" in refused.json()["error"]["message"]

    listed = glance(live_portal, live_portal.admin_token, "task-list", "--page-size", "1",
                    "--status", "success", home=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert task["id"] in [row["ID"] for row in list_table(listed.stdout)]
    denied = glance(live_portal, live_portal.user_token, "task-list", home=tmp_path)
    assert denied.returncode != 0
    assert "HTTP 403 Forbidden: You are not authorized to complete tasks_api_access action" \
        in denied.stderr, denied.stderr
