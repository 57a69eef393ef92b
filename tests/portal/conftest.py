import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests import factories


@pytest.fixture
def alice(db):
    """An API client with the token of alice, a member of alice-project."""
    return factories.api_client("alice")


@pytest.fixture
def root(db):
    """An API client with an admin's token."""
    return factories.api_client("root", admin=True)


@pytest.fixture
def scrape(root):
    """scrape() → {(name, labels as a sorted tuple): value} of /metrics, as Prometheus's
    parser reads it."""

    def read():
        response = root.get("/metrics")
        assert response.status_code == 200, response.content[:300]
        return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
                for family in text_string_to_metric_families(response.content.decode())
                for sample in family.samples}

    return read
