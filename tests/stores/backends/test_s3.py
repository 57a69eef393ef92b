"""What the S3 driver adds to the store contract: multipart uploads, streamed reads, locations."""
import io
import os
import random
import socket
import tracemalloc

import pytest

from stores.backends.s3 import S3Store
from stores.exceptions import InvalidLocation, StoreUnavailable, StreamError
from stores.locations import Location
from tests.streams import FailingStream

MiB = 2**20


@pytest.fixture
def make_store(swift_env, s3_bucket):
    """Build S3Stores on the test's own bucket."""

    def make(name="s3-test", **options):
        options.setdefault("endpoint_url", swift_env["S3_ENDPOINT_URL"])
        return S3Store(name, access_key=swift_env["S3_ACCESS_KEY"],
                       secret_key=swift_env["S3_SECRET_KEY"], region=swift_env["S3_REGION"],
                       bucket=s3_bucket, **options)

    return make


# Made before any test traces memory: the streams below copy from it and hold nothing else.
POOL = random.Random(7).randbytes(8 * MiB + 7)


class PatternStream:
    """`size` bytes cut from POOL as they are read, at memcpy speed.

    Faster than any upload, so an uploader that reads ahead without a limit would hold
    the whole image; the same `size` always gives the same bytes, to compare read-backs.
    """

    def __init__(self, size):
        self._remaining = size
        self._pos = 0

    def read(self, n=-1):
        n = self._remaining if n is None or n < 0 else min(n, self._remaining)
        assert n <= len(POOL)
        start, self._pos = self._pos, (self._pos + n) % len(POOL)
        self._remaining -= n
        if start + n <= len(POOL):
            return POOL[start:start + n]
        return POOL[start:] + POOL[:self._pos]


def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_multipart_upload_reads_back_byte_for_byte(make_store, s3):
    store = make_store(chunk_size=5 * MiB)
    payload = os.urandom(12 * MiB + 17)

    uri = store.save("img", io.BytesIO(payload))

    # A multipart object's ETag is the MD5 of its parts' MD5s, suffixed with the part count.
    assert s3.head_object(Bucket=store.bucket, Key="img")["ETag"].endswith('-3"')
    with store.open(uri) as reader:
        assert b"".join(reader) == payload
    with store.open(uri, offset=5 * MiB - 3, length=5 * MiB + 6) as reader:  # across parts
        assert b"".join(reader) == payload[5 * MiB - 3:10 * MiB + 3]


def test_a_reader_streams_the_object_instead_of_downloading_it_first(make_store, swift_aio):
    store = make_store("s3-outage", chunk_size=5 * MiB)
    payload = os.urandom(32 * MiB)
    uri = store.save("img", io.BytesIO(payload))

    reader = store.open(uri)
    chunks = iter(reader)
    first = next(chunks)
    assert first == payload[:len(first)]
    # Were the object already downloaded, the rest would still arrive with the object
    # server gone. Loopback buffers hold several MiB, hence the 32 MiB object.
    swift_aio.stop("object")
    received = len(first)
    with pytest.raises(StoreUnavailable, match="s3-outage"):
        for chunk in chunks:
            received += len(chunk)
    reader.close()
    assert received < len(payload)


def test_an_upload_keeps_a_few_parts_in_memory_not_the_image(make_store):
    store = make_store(chunk_size=5 * MiB, max_concurrency=2)

    tracemalloc.start()
    try:
        uri = store.save("img", PatternStream(100 * MiB))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    # s3transfer's default read-ahead (10 parts) measured 75 MiB here; the limit, 34 MiB.
    assert peak < 8 * 5 * MiB, f"{peak / MiB:.0f} MiB held during a 100 MiB upload"
    expected = PatternStream(100 * MiB)
    with store.open(uri) as reader:
        for chunk in reader:
            assert chunk == expected.read(len(chunk))
    assert expected.read(1) == b""


@pytest.mark.parametrize("size", [12 * MiB + 17, 1000], ids=["multipart", "single-part"])
def test_a_failed_stream_leaves_no_object_and_no_multipart_upload(make_store, s3, size):
    store = make_store(chunk_size=5 * MiB)

    with pytest.raises(StreamError):
        store.save("img", FailingStream(os.urandom(size)))

    assert s3.list_objects_v2(Bucket=store.bucket).get("Contents", []) == []
    assert s3.list_multipart_uploads(Bucket=store.bucket).get("Uploads", []) == []


def test_the_bucket_is_created_on_first_write(make_store, s3):
    store = make_store()
    assert store.health().ok  # missing is fine: the first save creates it
    assert list(store.keys()) == []

    store.save("img", io.BytesIO(b"data"))

    s3.head_bucket(Bucket=store.bucket)
    assert list(store.keys()) == ["img"]


def test_health_is_false_when_the_endpoint_is_unreachable(make_store):
    store = make_store("s3-down", endpoint_url=f"http://127.0.0.1:{closed_port()}")
    health = store.health()
    assert not health.ok
    assert "s3-down" in health.reason


def test_health_is_false_while_the_object_server_is_down(make_store, swift_aio):
    store = make_store("s3-outage")
    store.save("img", io.BytesIO(b"x"))
    assert store.health().ok

    swift_aio.stop("object")
    health = store.health()
    assert not health.ok
    assert "s3-outage" in health.reason

    swift_aio.start()
    assert store.health().ok


def test_a_save_to_an_unreachable_endpoint_raises_store_unavailable(make_store):
    store = make_store("s3-down", endpoint_url=f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(StoreUnavailable, match="s3-down"):
        store.save("img", io.BytesIO(b"x"))


def test_the_uri_has_no_credentials_and_parses_back_to_bucket_and_key(make_store, swift_env):
    store = make_store()
    uri = store.save("img-1", io.BytesIO(b"x"))

    assert uri == f"s3://127.0.0.1:8080/{store.bucket}/img-1"
    assert swift_env["S3_SECRET_KEY"] not in uri and swift_env["S3_ACCESS_KEY"] not in uri
    location = Location.parse(uri)
    assert (location.container, location.key) == (store.bucket, "img-1")
    assert not location.has_credentials


def test_a_glance_uri_with_credentials_is_read_but_never_written(make_store):
    store = make_store()
    glance_uri = f"s3://AKIAEXAMPLE:se/cr+et@127.0.0.1:8080/{store.bucket}/img-1"
    assert store.key_of(glance_uri) == "img-1"
    assert store.uri_for("img-1") == f"s3://127.0.0.1:8080/{store.bucket}/img-1"
    with pytest.raises(InvalidLocation):
        store.key_of("s3://127.0.0.1:8080/another-bucket/img-1")


def test_the_uri_scheme_follows_the_endpoint(make_store):
    assert make_store(endpoint_url="https://s3.example.com").uri_for("k").startswith(
        "s3+https://s3.example.com/")
    assert make_store(endpoint_url=None).uri_for("k").startswith("s3+https://s3.amazonaws.com/")


def test_info_holds_no_secrets(make_store, swift_env):
    info = make_store().info()
    assert info["bucket"] and info["chunk_size"] == 16 * MiB
    assert swift_env["S3_SECRET_KEY"] not in repr(info)


def test_a_failed_save_aborts_its_own_multipart_upload_not_another_of_the_same_key(
        make_store, s3):
    store = make_store(chunk_size=5 * MiB)
    s3.create_bucket(Bucket=store.bucket)
    theirs = s3.create_multipart_upload(Bucket=store.bucket, Key="img")["UploadId"]

    with pytest.raises(StreamError):
        store.save("img", FailingStream(os.urandom(12 * MiB + 17)))

    uploads = s3.list_multipart_uploads(Bucket=store.bucket).get("Uploads", [])
    assert [upload["UploadId"] for upload in uploads] == [theirs]
    assert s3.list_objects_v2(Bucket=store.bucket).get("Contents", []) == []


def test_a_save_looks_for_an_existing_object_because_swift_refuses_conditional_puts(s3,
                                                                                  s3_bucket):
    """Why S3Store.save() checks with a HEAD: the S3 API here has no If-None-Match on writes."""
    from botocore.exceptions import ClientError

    s3.create_bucket(Bucket=s3_bucket)
    with pytest.raises(ClientError, match="NotImplemented"):
        s3.put_object(Bucket=s3_bucket, Key="img", Body=b"x", IfNoneMatch="*")
