"""/healthcheck with the database out of reach: a load balancer takes the node out, and back in
once the database answers (PostgreSQL behind a relay the test cuts)."""
import pytest
import requests

pytestmark = pytest.mark.live


def test_healthcheck_is_503_while_the_database_is_out_of_reach(make_portal, postgres_url,
                                                               db_relay):
    server, name = postgres_url
    user = server.split("//", 1)[1].rsplit("@", 1)[0]
    portal = make_portal(database_url=f"postgres://{user}@{db_relay.address}/{name}")
    portal.start(worker=False, workers=1)

    def health():
        response = requests.get(portal.url + "/healthcheck", timeout=30)
        return response.status_code, response.text

    assert health() == (200, "OK")
    db_relay.cut()  # the kept connection is dropped and no new one gets through
    status, reason = health()
    assert status == 503 and reason.startswith("database unavailable"), reason
    db_relay.restore()
    assert health() == (200, "OK")
