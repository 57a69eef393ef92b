"""Log lines that tie a request together: one format, the request id from the client or new,
and the same id on the lines of the tasks the request started."""
import json
import logging
import re
from types import SimpleNamespace

import pytest
from django.test import Client

from portal import logs

pytestmark = pytest.mark.django_db

CLIENT_ID = "req-1b4e28ba-2fa1-11d2-883f-0016d3cca427"


def formatted(formatter, message="copied"):
    record = logging.LogRecord("images.services.data", logging.INFO, __file__, 1, message,
                               (), None)
    logs.ContextFilter().filter(record)
    return formatter.format(record)


def test_a_valid_client_request_id_is_answered_back():
    response = Client().get("/versions", HTTP_X_OPENSTACK_REQUEST_ID=CLIENT_ID)
    assert response["x-openstack-request-id"] == CLIENT_ID


@pytest.mark.parametrize("sent", ["req-not-a-uuid", "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
                                  CLIENT_ID.upper(), CLIENT_ID + "\nforged log line"])
def test_an_invalid_client_request_id_is_replaced(sent):
    answered = Client().get("/versions", HTTP_X_OPENSTACK_REQUEST_ID=sent)[
        "x-openstack-request-id"]
    assert answered != sent and logs.REQUEST_ID.fullmatch(answered)


def test_a_request_is_logged_once_with_its_status(alice, caplog):
    with caplog.at_level(logging.INFO, logger="portal.request"):
        alice.get("/v2/images", HTTP_X_OPENSTACK_REQUEST_ID=CLIENT_ID)
    assert [r.getMessage() for r in caplog.records if r.name == "portal.request"] == [
        RegexMatch(r'"GET /v2/images" 200 \d+\.\d{3}s')]


def test_a_line_has_time_level_logger_request_id_user_and_project():
    token = logs.bind(logs.Context(CLIENT_ID, user="alice", project="p-1"))
    try:
        line = formatted(logs.TextFormatter())
    finally:
        logs.unbind(token)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO images\.services\.data "
                        rf"\[{CLIENT_ID} alice p-1\] copied", line), line


def test_a_line_outside_any_request_says_so_with_dashes():
    assert formatted(logs.TextFormatter()).endswith(" [- - -] copied")


def test_json_lines_carry_the_same_fields():
    token = logs.bind(logs.Context(CLIENT_ID, user="alice", project="p-1"))
    try:
        entry = json.loads(formatted(logs.JsonFormatter(), message='a "quoted"\nline'))
    finally:
        logs.unbind(token)
    assert entry.pop("time").endswith("Z")
    assert entry == {"level": "INFO", "logger": "images.services.data",
                     "request_id": CLIENT_ID, "user": "alice", "project": "p-1",
                     "message": 'a "quoted"\nline'}


def test_a_task_sent_during_a_request_runs_under_its_id_user_and_project():
    headers = {}
    token = logs.bind(logs.Context(CLIENT_ID, user="alice", project="p-1"))
    try:
        logs.task_headers(headers)  # what before_task_publish does in the web process
    finally:
        logs.unbind(token)
    in_worker = logs.task_context(SimpleNamespace(**headers))  # task.request in the worker
    assert in_worker.fields() == {"request_id": CLIENT_ID, "user": "alice", "project": "p-1"}


def test_a_task_run_eagerly_inside_a_request_keeps_the_request_id():
    token = logs.bind(logs.Context(CLIENT_ID, user="alice", project="p-1"))
    try:
        assert logs.task_context(SimpleNamespace()).fields()["request_id"] == CLIENT_ID
    finally:
        logs.unbind(token)


def test_a_task_sent_outside_a_request_gets_no_headers():
    headers = {}
    logs.task_headers(headers)
    assert headers == {}


class RegexMatch(str):
    def __eq__(self, other):
        return re.fullmatch(self, other) is not None

    __hash__ = str.__hash__
