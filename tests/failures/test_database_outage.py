"""The database out of reach for a moment while an upload streams (PostgreSQL, behind a relay
the test cuts)."""
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.failures.conftest import MiB
from tests.live.clients import OCTET, create_image, digests, show_image, upload_image

pytestmark = pytest.mark.live


def all_answer(portal, image, requests_at_once=16):
    """True when that many requests at once, each on a connection of its own (so spread over
    the workers' threads), all show the image."""
    def show(_):
        return requests.get(f"{portal.url}/v2/images/{image['id']}", headers=portal.api.headers,
                            timeout=30).status_code

    with ThreadPoolExecutor(requests_at_once) as pool:
        codes = list(pool.map(show, range(requests_at_once)))
    assert codes == [200] * requests_at_once, codes
    return True


def test_an_upload_that_loses_the_database_leaves_no_object_and_a_queued_image(
        make_portal, postgres_url, db_relay):
    server, name = postgres_url
    user = server.split("//", 1)[1].rsplit("@", 1)[0]
    portal = make_portal(database_url=f"postgres://{user}@{db_relay.address}/{name}")
    portal.start(worker=False)
    api = portal.api
    image = create_image(api, name="db-outage")
    assert all_answer(portal, image)  # every thread of both workers holds a connection now
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
    # Once the database is back: every web thread answers again (its connection checked before
    # reuse), no object in the store, no location, the image queued.
    assert all_answer(portal, image)
    assert portal.files() == []
    after = show_image(api, image["id"])
    assert after["status"] == "queued" and after["size"] is None, after
    assert after.get("locations", []) == [], after
    retried = upload_image(api, image, data)
    assert {k: retried[k] for k in digests(data)} == digests(data)
    assert portal.files() == [image["id"]]
