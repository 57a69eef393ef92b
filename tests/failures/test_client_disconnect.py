"""A client that goes away half-way through an upload."""
import os
import socket

import pytest

from tests.failures.conftest import MiB
from tests.live.clients import create_image, digests, show_image, upload_image, wait_until

pytestmark = pytest.mark.live


def test_a_client_gone_half_way_leaves_a_queued_image_an_empty_store_and_room_to_retry(portal):
    api = portal.api
    image = create_image(api, name="cut-off")
    size = 16 * MiB
    with socket.create_connection(("127.0.0.1", portal.port)) as sock:
        sock.sendall(f"PUT /v2/images/{image['id']}/file HTTP/1.1\r\n"
                     f"Host: 127.0.0.1:{portal.port}\r\nX-Auth-Token: {api.headers['X-Auth-Token']}"
                     "\r\nContent-Type: application/octet-stream\r\n"
                     f"Content-Length: {size}\r\n\r\n".encode())
        sock.sendall(os.urandom(size // 2))
        # The upload is under way: the image is saving and its bytes are reaching the store.
        wait_until(lambda: show_image(api, image["id"])["status"] == "saving"
                   and portal.files() == [image["id"]], message="the upload to start")

    after = wait_until(lambda: (found := show_image(api, image["id"]))["status"] != "saving"
                       and found, message="the upload to end")
    # What is left: the image queued (no size, no checksum), and nothing in the store.
    assert after["status"] == "queued", after
    assert after["size"] is None and after["checksum"] is None, after
    assert portal.files() == []

    data = os.urandom(4 * MiB + 3)
    retried = upload_image(api, image, data)
    assert {k: retried[k] for k in digests(data)} == digests(data)
    assert retried["status"] == "active"
    assert portal.files() == [image["id"]]
