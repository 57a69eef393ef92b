"""Image data over HTTP through gunicorn: chunked and sized uploads, downloads with ranges,
and the error answers, each leaving nothing behind."""
import hashlib
import os

import pytest
import requests

pytestmark = pytest.mark.live


def create(api, **fields):
    body = {"name": "t", "disk_format": "raw", "container_format": "bare", **fields}
    response = api.post(api.base + "/v2/images", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def chunks(data, size=2**20):
    for i in range(0, len(data), size):
        yield data[i:i + size]


def store_objects(live_portal, store):
    return sorted(p.name for p in (live_portal.data_dir / "images" / store).iterdir())


def test_chunked_upload_without_length_is_stored_whole_and_hashed(api, live_portal):
    data = os.urandom(5 * 2**20 + 7)
    image = create(api)
    response = api.put(api.base + image["file"], data=chunks(data),
                       headers={"Content-Type": "application/octet-stream",
                                "X-Image-Meta-Store": "cheap"})
    assert response.status_code == 204, response.text
    shown = api.get(api.base + image["self"]).json()
    assert (shown["status"], shown["size"], shown["stores"]) == ("active", len(data), "cheap")
    assert shown["checksum"] == hashlib.md5(data).hexdigest()
    assert shown["os_hash_value"] == hashlib.sha512(data).hexdigest()
    assert (live_portal.data_dir / "images" / "cheap" / image["id"]).read_bytes() == data


def test_download_is_octet_stream_with_hex_md5_and_the_same_bytes(api):
    data = os.urandom(3 * 2**20)
    image = create(api)
    api.put(api.base + image["file"], data=data,
            headers={"Content-Type": "application/octet-stream"})
    response = api.get(api.base + image["file"])
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Content-MD5"] == hashlib.md5(data).hexdigest()
    assert int(response.headers["Content-Length"]) == len(data)
    assert response.content == data


@pytest.mark.parametrize("header, start, end", [
    ("bytes=10-19", 10, 19), ("bytes=100-", 100, 999), ("bytes=-5", 995, 999),
    ("bytes=990-5000", 990, 999)])
def test_a_byte_range_answers_206_with_that_slice(api, header, start, end):
    data = os.urandom(1000)
    image = create(api)
    api.put(api.base + image["file"], data=data,
            headers={"Content-Type": "application/octet-stream"})
    response = api.get(api.base + image["file"], headers={"Range": header})
    assert response.status_code == 206
    assert response.content == data[start:end + 1]
    assert response.headers["Content-Range"] == f"bytes {start}-{end}/1000"


def test_an_unsatisfiable_range_is_416(api):
    image = create(api)
    api.put(api.base + image["file"], data=b"abc",
            headers={"Content-Type": "application/octet-stream"})
    assert api.get(api.base + image["file"], headers={"Range": "bytes=5-"}).status_code == 416


def test_download_of_a_queued_image_is_204(api):
    assert api.get(api.base + create(api)["file"]).status_code == 204


def test_unknown_store_is_400_with_a_readable_error_and_nothing_stored(api, live_portal):
    image = create(api)
    before = store_objects(live_portal, "file"), store_objects(live_portal, "cheap")
    response = api.put(api.base + image["file"], data=b"x" * 100,
                       headers={"Content-Type": "application/octet-stream",
                                "X-Image-Meta-Store": "nope"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == 400 and "Unknown store 'nope'" in error["message"]
    assert api.get(api.base + image["self"]).json()["status"] == "queued"
    assert (store_objects(live_portal, "file"), store_objects(live_portal, "cheap")) == before


def test_announced_size_that_differs_is_400_and_leaves_the_image_queued(api, live_portal):
    image = create(api)
    response = api.put(api.base + image["file"], data=chunks(b"x" * 1000, 100),
                       headers={"Content-Type": "application/octet-stream",
                                "X-Openstack-Image-Size": "2000"})
    assert response.status_code == 400
    shown = api.get(api.base + image["self"]).json()
    assert (shown["status"], shown["size"]) == ("queued", None)
    assert image["id"] not in store_objects(live_portal, "file")


def test_upload_to_an_active_image_is_409(api):
    image = create(api)
    api.put(api.base + image["file"], data=b"one",
            headers={"Content-Type": "application/octet-stream"})
    response = api.put(api.base + image["file"], data=b"two",
                       headers={"Content-Type": "application/octet-stream"})
    assert response.status_code == 409
    assert api.get(api.base + image["file"]).content == b"one"


@pytest.mark.parametrize("image_id", ["8d0a2b4e-0000-4000-8000-000000000000", "not-a-uuid"])
def test_an_unknown_image_is_404(api, image_id):
    response = api.get(f"{api.base}/v2/images/{image_id}")
    assert response.status_code == 404
    assert response.json()["error"]["title"] == "Not Found"


@pytest.mark.parametrize("token", [None, "wrong"])
def test_no_token_or_a_bad_token_is_401(live_portal, token):
    headers = {"X-Auth-Token": token} if token else {}
    # JSON as openstacksdk asks for it; `*/*` would get webob's HTML page.
    headers["Accept"] = "application/json"
    response = requests.post(live_portal.url + "/v2/images", json={}, headers=headers)
    assert response.status_code == 401
    assert "error" in response.json()
