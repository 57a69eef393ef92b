"""/metrics in Prometheus's format, read back with prometheus_client's parser: what each flow
counts (the live portal's several processes: tests/live/test_observability.py)."""
import os

import pytest
from django.test import Client

from images.models import ImageLocation
from images.services.audit import audit_run
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)

FILE_ROUTE = "v2/images/<str:image_id>/file"


def delta(before, after, name, **labels):
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0) - before.get(key, 0)


def test_metrics_are_for_admins(alice, root):
    assert Client().get("/metrics").status_code == 401
    assert alice.get("/metrics").status_code == 403
    secret = root.defaults["HTTP_X_AUTH_TOKEN"]
    bearer = Client(HTTP_AUTHORIZATION=f"Bearer {secret}").get("/metrics")
    assert bearer.status_code == 200
    assert bearer["Content-Type"].startswith("text/plain; version=")


def test_an_upload_a_refused_upload_and_a_download_are_counted(alice, scrape, file_stores):
    data = os.urandom(2**20 + 3)
    image = alice.post("/v2/images", {"name": "m", "disk_format": "raw",
                                      "container_format": "bare"},
                       content_type="application/json").json()
    url = f"/v2/images/{image['id']}/file"
    before = scrape()
    assert alice.put(url, data, content_type="text/plain").status_code == 415
    assert alice.put(url, data, content_type="application/octet-stream").status_code == 204
    assert alice.put(url, data, content_type="application/octet-stream").status_code == 409
    assert b"".join(alice.get(url).streaming_content) == data
    after = scrape()
    assert delta(before, after, "portal_store_uploaded_bytes_total", store="fast",
                 purpose="upload") == len(data)
    assert delta(before, after, "portal_store_downloaded_bytes_total", store="fast") == len(data)
    for reason in ("415", "409"):
        assert delta(before, after, "portal_upload_refusals_total", reason=reason,
                     view=FILE_ROUTE) == 1
    assert delta(before, after, "portal_http_requests_total", method="PUT", view=FILE_ROUTE,
                 status="204") == 1
    assert delta(before, after, "portal_http_request_duration_seconds_count", method="PUT",
                 view=FILE_ROUTE) == 3
    assert after[("portal_store_images", (("store", "fast"),))] == 1
    assert after[("portal_store_bytes", (("store", "fast"),))] == len(data)


def test_the_last_audit_of_each_store_is_counted_by_kind(scrape, file_stores):
    kept, _ = factories.active_image(store_name="fast")
    lost, _ = factories.active_image(store_name="fast")
    (file_stores["fast"] / lost.id).unlink()
    (file_stores["cheap"] / "stray").write_bytes(b"not an image")
    audit_run()
    after = scrape()

    def findings(store, kind):
        return after[("portal_audit_findings",
                      (("database", "default"), ("finding", kind), ("store", store)))]

    assert (findings("fast", "ok"), findings("fast", "missing")) == (1, 1)
    assert (findings("cheap", "ok"), findings("cheap", "foreign")) == (0, 1)
    ImageLocation.objects.filter(image=lost).delete()
    (file_stores["cheap"] / "stray").unlink()
    audit_run()
    again = scrape()
    assert again[("portal_audit_findings",
                  (("database", "default"), ("finding", "missing"), ("store", "fast")))] == 0


def test_a_task_run_is_counted_by_name_and_outcome(scrape, file_stores):
    from images.tasks import stores_health_task

    name = "images.tasks.stores_health_task"
    before = scrape()
    stores_health_task.apply()
    after = scrape()
    assert delta(before, after, "portal_tasks_total", task=name, outcome="success") == 1
    assert delta(before, after, "portal_task_duration_seconds_count", task=name,
                 outcome="success") == 1
