import pytest

from tests.factories import api_client


@pytest.fixture
def admin():
    """An API client with an admin's token."""
    return api_client("root", admin=True)


@pytest.fixture
def alice():
    return api_client("alice")


@pytest.fixture
def bob():
    return api_client("bob")
