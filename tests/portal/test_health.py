"""/healthcheck as oslo.middleware answers it (the database's outage: tests/failures)."""
import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_healthcheck_answers_ok_to_anyone():
    response = Client().get("/healthcheck")
    assert (response.status_code, response.content) == (200, b"OK")
    assert response["Content-Type"].startswith("text/plain")
    assert Client().head("/healthcheck").status_code == 204


def test_healthcheck_answers_a_probe_that_names_the_node_by_its_address():
    response = Client().get("/healthcheck", HTTP_HOST="10.1.2.3:8000")
    assert (response.status_code, response.content) == (200, b"OK")
    assert Client().post("/healthcheck").status_code == 405


def test_healthcheck_details_are_for_admins(alice, root, file_stores):
    simple = alice.get("/healthcheck", HTTP_ACCEPT="application/json")
    assert simple.json() == {"detailed": False, "reasons": ["OK"]}
    detailed = root.get("/healthcheck", HTTP_ACCEPT="application/json").json()
    assert detailed["detailed"] is True and detailed["database"]["ok"] is True
    assert set(detailed["stores"]) == {"fast", "cheap"}
    assert set(detailed["broker"]) == {"ok", "queued", "reason"}


def test_healthcheck_says_which_broker_is_unreachable(root, settings):
    from portal.celery import app

    app.conf.broker_url = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    try:
        broker = root.get("/healthcheck", HTTP_ACCEPT="application/json").json()["broker"]
    finally:
        app.conf.broker_url = settings.CELERY_BROKER_URL
    assert broker["ok"] is False and "broker unavailable" in broker["reason"]
