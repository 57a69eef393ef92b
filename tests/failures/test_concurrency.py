"""Many clients at once through gunicorn with 4 workers."""
import hashlib
import random
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.failures.conftest import MiB
from tests.live.clients import OCTET, create_image, digests, show_image, upload_image

pytestmark = pytest.mark.live

CLIENTS = 20
SIZE = 8 * MiB


def payload(seed):
    # Odd sizes, so no two images share a length and a tail cut off would show.
    return random.Random(seed).randbytes(SIZE + seed * 4099)


def test_twenty_uploads_and_twenty_downloads_at_once_all_hash_right(make_portal, swift_objects):
    portal = make_portal()
    portal.start(workers=4, worker=False)
    api = portal.api
    stores = ["file", "swift"]
    ready = [upload_image(api, create_image(api, name=f"down-{n}"), payload(n), stores[n % 2])
             for n in range(CLIENTS)]
    fresh = [create_image(api, name=f"up-{n}") for n in range(CLIENTS)]

    def download(n):
        # A session per client: each thread has its own connection.
        response = requests.get(f"{portal.url}/v2/images/{ready[n]['id']}/file",
                                headers=api.headers, stream=True, timeout=120)
        md5 = hashlib.md5()
        for chunk in response.iter_content(MiB):
            md5.update(chunk)
        return response.status_code, md5.hexdigest()

    def upload(n):
        data = payload(CLIENTS + n)
        response = requests.put(f"{portal.url}/v2/images/{fresh[n]['id']}/file", data=data,
                                headers={**api.headers, **OCTET,
                                         "X-Image-Meta-Store": stores[n % 2]}, timeout=120)
        return response.status_code, response.text

    with ThreadPoolExecutor(2 * CLIENTS) as pool:
        downloads = [pool.submit(download, n) for n in range(CLIENTS)]
        uploads = [pool.submit(upload, n) for n in range(CLIENTS)]
        downloaded = [future.result() for future in downloads]
        uploaded = [future.result() for future in uploads]

    assert downloaded == [(200, digests(payload(n))["checksum"]) for n in range(CLIENTS)]
    assert uploaded == [(204, "")] * CLIENTS
    for n, image in enumerate(fresh):
        shown = show_image(api, image["id"])
        assert shown["status"] == "active" and shown["stores"] == stores[n % 2], shown
        assert {k: shown[k] for k in digests(b"")} == digests(payload(CLIENTS + n)), n
    # Exactly one object per image in each store: no leftovers of any request.
    everything = ready + fresh
    assert portal.files() == sorted(i["id"] for n, i in enumerate(everything) if n % 2 == 0)
    assert sorted(swift_objects()) == sorted(f"{portal.container}/{i['id']}"
                                             for n, i in enumerate(everything) if n % 2)
