"""API sessions on the live portal (tests/conftest.py starts it): alice (a project member),
admin, and `api`, alice under the name the data tests use."""
import pytest

from tests.live.clients import api_session


@pytest.fixture
def alice(live_portal):
    return api_session(live_portal, live_portal.user_token)


@pytest.fixture
def admin(live_portal):
    return api_session(live_portal, live_portal.admin_token)


@pytest.fixture
def api(alice):
    return alice
