import io

import pytest
from django.core.management import call_command
from django.test import Client

from accounts.services import user_ensure


@pytest.fixture
def alice(db):
    return user_ensure(username="alice", project_name="team-a")


@pytest.fixture
def create_token(db):
    """Run `manage.py create_token ARGS...`; returns (stdout, stderr)."""

    def run(*args):
        out, err = io.StringIO(), io.StringIO()
        call_command("create_token", *args, stdout=out, stderr=err)
        return out.getvalue(), err.getvalue()

    return run


@pytest.fixture
def api_get(db):
    """GET an API path with `secret` as X-Auth-Token; returns the response."""

    def get(secret, path="/v2/images"):
        return Client(HTTP_X_AUTH_TOKEN=secret, HTTP_ACCEPT="application/json").get(path)

    return get
