"""Swift's object server stopped while the portal uploads to it or downloads from it."""
import hashlib
import os
import time

import pytest
import requests

from tests.failures.conftest import MiB
from tests.live.clients import OCTET, create_image, digests, show_image, upload_image

pytestmark = [pytest.mark.live, pytest.mark.swift]


def unavailable(response):
    """The API's 503 error body; returns its message."""
    assert response.status_code == 503, (response.status_code, response.text)
    error = response.json()["error"]
    assert error["code"] == 503 and error["title"] == "Service Unavailable", error
    return error["message"]


def test_an_upload_cut_by_the_object_server_stopping_is_a_503_and_leaves_nothing(
        portal, swift_aio, swift_objects):
    api = portal.api
    image = create_image(api, name="swift-outage")
    data = os.urandom(16 * MiB)
    stopped = []

    def body():
        for offset in range(0, len(data), MiB):
            if offset == 4 * MiB:
                swift_aio.stop("object")
                stopped.append(offset)
            yield data[offset:offset + MiB]

    response = api.put(f"{portal.url}/v2/images/{image['id']}/file", data=body(),
                       headers={**OCTET, "X-Image-Meta-Store": "swift"})

    assert stopped
    message = unavailable(response)
    assert "'swift'" in message and "Nothing was kept" in message, message
    after = show_image(api, image["id"])
    assert after["status"] == "queued" and after["size"] is None, after
    # Back up: the interrupted object never became one, and the same image uploads again.
    swift_aio.start()
    assert swift_objects() == []
    retried = upload_image(api, image, data, store="swift")
    assert {k: retried[k] for k in digests(data)} == digests(data)
    assert swift_objects() == [f"{portal.container}/{image['id']}"]


def test_what_a_large_upload_cut_by_the_outage_left_in_swift_goes_with_the_scrubber(
        make_portal, swift_aio, swift_objects):
    """A large object's first part and segments cannot be removed while the object servers
    are down: once they are back, they are leftovers the scrubber removes."""
    portal = make_portal(large_object_size=4 * MiB, toml="leftover_age = 0\n")
    portal.start(worker=False)
    api = portal.api
    image = create_image(api, name="swift-outage-large")
    data = os.urandom(16 * MiB)

    def segments_written():
        return [name for name in swift_objects() if "_segments/" in name]

    def body():
        for offset in range(0, len(data), MiB):
            if offset == 9 * MiB:  # into the third segment
                # The server reads behind the client (socket buffers hold megabytes): stop
                # only once it has written two segments, or there is nothing to leave.
                deadline = time.monotonic() + 60
                while len(segments_written()) < 2 and time.monotonic() < deadline:
                    time.sleep(0.1)
                swift_aio.stop("object")
            yield data[offset:offset + MiB]

    response = api.put(f"{portal.url}/v2/images/{image['id']}/file", data=body(),
                       headers={**OCTET, "X-Image-Meta-Store": "swift"})

    assert "'swift'" in unavailable(response)
    swift_aio.start()
    assert swift_objects(), "the outage kept the driver from removing its partial object"
    assert show_image(api, image["id"])["status"] == "queued"
    portal.manage("scrub")
    assert swift_objects() == []
    retried = upload_image(api, image, data, store="swift")
    assert {k: retried[k] for k in digests(data)} == digests(data)


def test_a_download_while_the_object_server_is_down_is_a_503_and_works_once_it_is_back(
        portal, swift_aio):
    api = portal.api
    data = os.urandom(8 * MiB)
    image = upload_image(api, create_image(api, name="swift-down"), data, store="swift")
    url = f"{portal.url}/v2/images/{image['id']}/file"

    swift_aio.stop("object")
    message = unavailable(api.get(url))
    assert "swift" in message, message
    assert show_image(api, image["id"])["status"] == "active"

    swift_aio.start()
    response = api.get(url)
    assert response.status_code == 200
    assert response.content == data


def test_a_download_cut_by_the_object_server_stopping_ends_short_not_as_a_whole_image(
        portal, swift_aio):
    """The 200 and its Content-Length are gone when the store fails mid-way: the client must
    see a broken transfer, never a short body it could take for the image."""
    api = portal.api
    # Socket buffers on loopback hold several MiB: a small image could arrive whole first.
    data = os.urandom(48 * MiB)
    image = upload_image(api, create_image(api, name="swift-cut"), data, store="swift")

    response = api.get(f"{portal.url}/v2/images/{image['id']}/file", stream=True)
    assert response.status_code == 200
    chunks = response.iter_content(MiB)
    received = hashlib.md5(next(chunks))
    swift_aio.stop("object")
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        for chunk in chunks:
            received.update(chunk)
    assert received.hexdigest() != image["checksum"]

    swift_aio.start()
    again = api.get(f"{portal.url}/v2/images/{image['id']}/file")
    assert again.status_code == 200 and hashlib.md5(again.content).hexdigest() == \
        image["checksum"]
