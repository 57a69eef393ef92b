"""The database out of reach for a moment while an upload streams (PostgreSQL, behind a relay
the test cuts)."""
import os
import threading

import pytest

from tests.failures.conftest import MiB
from tests.failures.relay import Relay
from tests.live.clients import OCTET, create_image, digests, show_image, upload_image

pytestmark = pytest.mark.live


@pytest.fixture
def db_relay(postgres_url):
    server, _ = postgres_url
    host, port = server.rsplit("@", 1)[-1].split(":")
    relay = Relay((host, int(port)))
    yield relay
    relay.close()


def test_an_upload_that_loses_the_database_leaves_no_object_and_a_queued_image(
        make_portal, postgres_url, db_relay):
    server, name = postgres_url
    user = server.split("//", 1)[1].rsplit("@", 1)[0]
    portal = make_portal(database_url=f"postgres://{user}@{db_relay.address}/{name}")
    portal.start(worker=False)
    api = portal.api
    image = create_image(api, name="db-outage")
    data = os.urandom(16 * MiB)
    back = threading.Timer(1.5, db_relay.restore)

    def body():
        for offset in range(0, len(data), MiB):
            if offset == 8 * MiB:
                db_relay.cut()  # the web process's connection goes, and no new one is let in
            yield data[offset:offset + MiB]
        # The data is all in the store now; recording it fails until the database is back.
        back.start()

    response = api.put(f"{portal.url}/v2/images/{image['id']}/file", data=body(), headers=OCTET)

    back.join()
    assert response.status_code == 503, (response.status_code, response.text[:500])
    error = response.json()["error"]
    assert error["code"] == 503 and "database" in error["message"].lower(), error
    # Once the database is back: no object in the store, no location, the image queued.
    assert portal.files() == []
    after = show_image(api, image["id"])
    assert after["status"] == "queued" and after["size"] is None, after
    assert after.get("locations", []) == [], after
    retried = upload_image(api, image, data)
    assert {k: retried[k] for k in digests(data)} == digests(data)
    assert portal.files() == [image["id"]]
