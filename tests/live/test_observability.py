"""/metrics, /healthcheck and the logs of the live portal: two gunicorn workers and a Celery
worker count into one /metrics, and a request's id reaches the worker's lines of its task."""
import os
import re

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.live.clients import (copy_into, create_image, glance, show_image, upload_image,
                                wait_until)

pytestmark = pytest.mark.live

FILE_ROUTE = "v2/images/<str:image_id>/file"
IMPORT_TASK = "images.tasks.image_import_task"  # copy-image runs as an import task
AUDIT_CHEAP = "from images.services.audit import audit_run; audit_run(store_name='cheap')"


def scrape(portal):
    """{(name, sorted labels): value} of /metrics, read as Prometheus reads it."""
    response = requests.get(portal.url + "/metrics", timeout=30,
                            headers={"Authorization": f"Bearer {portal.admin_token}"})
    assert response.status_code == 200, response.text[:300]
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples}


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0)


def test_healthcheck_answers_ok_to_a_load_balancer(live_portal):
    response = requests.get(live_portal.url + "/healthcheck", timeout=30)
    assert (response.status_code, response.text) == (200, "OK")


def test_metrics_count_an_upload_a_refusal_a_copy_and_an_audit(live_portal, alice, admin):
    data = os.urandom(3 * 2**20 + 7)
    before = scrape(live_portal)
    image = create_image(alice, name="counted")
    refused = alice.put(f"{alice.base}/v2/images/{image['id']}/file", data=b"not octets",
                        headers={"Content-Type": "text/plain"})
    assert refused.status_code == 415, refused.text
    upload_image(alice, image, data)
    copy_into(admin, image["id"], "cheap")
    live_portal.manage("shell", "-c", AUDIT_CHEAP)

    def copy_counted():
        samples = scrape(live_portal)
        done = value(samples, "portal_tasks_total", task=IMPORT_TASK, outcome="success")
        return done > value(before, "portal_tasks_total", task=IMPORT_TASK,
                            outcome="success") and samples

    # The worker counts its task when the task returns, a moment after the copy shows.
    after = wait_until(copy_counted, message="the copy task counted")

    def grown(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert grown("portal_tasks_total", task=IMPORT_TASK, outcome="success") == 1
    assert grown("portal_task_duration_seconds_count", task=IMPORT_TASK, outcome="success") == 1
    assert grown("portal_store_uploaded_bytes_total", store="file", purpose="upload") \
        == len(data)
    assert grown("portal_store_uploaded_bytes_total", store="cheap", purpose="copy") == len(data)
    assert grown("portal_upload_refusals_total", reason="415", view=FILE_ROUTE) == 1
    assert grown("portal_http_requests_total", method="PUT", view=FILE_ROUTE, status="204") == 1
    assert grown("portal_store_images", store="cheap") == 1
    assert grown("portal_store_bytes", store="cheap") == len(data)
    in_cheap = value(after, "portal_store_images", store="cheap")
    audit = {kind: value(after, "portal_audit_findings", database="default", store="cheap",
                         finding=kind) for kind in ("ok", "missing", "size_mismatch")}
    assert audit == {"ok": in_cheap, "missing": 0, "size_mismatch": 0}
    assert value(after, "portal_broker_up") == 1


def test_a_copy_started_by_glance_logs_its_request_id_in_the_web_and_the_worker(
        live_portal, admin, tmp_path):
    image = upload_image(admin, create_image(admin, name="traced"), os.urandom(100_000))
    result = glance(live_portal, live_portal.admin_token, "--debug", "image-import",
                    image["id"], "--import-method", "copy-image", "--stores", "cheap",
                    home=tmp_path)
    assert result.returncode == 0, result.stderr
    # glanceclient logs each response's id, this one twice.
    [request_id] = set(re.findall(
        r"POST call to image for \S+/import used request id (req-\S+)",
        result.stdout + result.stderr))
    wait_until(lambda: "cheap" in show_image(admin, image["id"])["stores"].split(","),
               message="the copy into cheap")

    web = [line for line in live_portal.log("gunicorn").splitlines() if request_id in line]
    assert any(f'"POST /v2/images/{image["id"]}/import" 202' in line for line in web), web
    worker = wait_until(lambda: [line for line in live_portal.log("celery").splitlines()
                                 if request_id in line and "Imported into cheap" in line],
                        message="the worker's line of the copy")
    assert f"INFO images.services.imports [{request_id} admin " in worker[0], worker
