"""What the Swift driver adds to the store contract: large objects, outages, locations."""
import io
import os
import threading

import pytest
from swiftclient import ClientException

from stores.backends.swift import SwiftStore
from stores.exceptions import InvalidLocation, ObjectExists, StoreUnavailable, StreamError
from tests.streams import FailingStream

MiB = 2**20


@pytest.fixture
def make_store(swift_env, swift_container):
    """Build SwiftStores on the test's own container."""

    def make(name="swift-test", **options):
        return SwiftStore(name, auth_url=swift_env["SWIFT_AUTH_URL"], user=swift_env["SWIFT_USER"],
                          key=swift_env["SWIFT_KEY"], container=swift_container, reference="ref1",
                          **options)

    return make


def segment_names(swift, container, key):
    try:
        _, listing = swift.get_container(f"{container}_segments", prefix=f"{key}/",
                                         full_listing=True)
    except ClientException as exc:
        if exc.http_status == 404:
            return []
        raise
    return [entry["name"] for entry in listing]


def is_slo(swift, container, key):
    return swift.head_object(container, key).get("x-static-large-object") == "True"


@pytest.mark.parametrize("segment_size", [MiB, 300 * 1024])
def test_an_upload_over_large_object_size_is_a_static_large_object(make_store, swift,
                                                                     payload, segment_size):
    store = make_store(large_object_size=MiB, segment_size=segment_size)
    uri = store.save("big", io.BytesIO(payload))

    with store.open(uri) as reader:
        assert b"".join(reader) == payload
    assert store.size(uri) == len(payload)
    assert is_slo(swift, store.container, "big")
    rest = len(payload) - MiB
    expected = 1 + -(-rest // segment_size)  # segment 1 is the first large_object_size bytes
    assert segment_names(swift, store.container, "big") == [
        f"big/{n:08d}" for n in range(1, expected + 1)]
    assert set(store.keys()) == {"big"}  # segments are not images


def test_a_range_of_a_static_large_object_spans_its_segments(make_store, payload):
    store = make_store(large_object_size=MiB, segment_size=MiB)
    uri = store.save("big", io.BytesIO(payload))
    with store.open(uri, offset=MiB - 10, length=MiB + 20) as reader:
        assert b"".join(reader) == payload[MiB - 10:2 * MiB + 10]


def test_deleting_a_static_large_object_removes_manifest_and_segments(make_store, swift,
                                                                       payload):
    store = make_store(large_object_size=MiB, segment_size=MiB)
    uri = store.save("big", io.BytesIO(payload))
    assert segment_names(swift, store.container, "big")

    store.delete(uri)

    assert not store.exists(uri)
    assert segment_names(swift, store.container, "big") == []


def test_an_upload_up_to_large_object_size_stays_a_plain_object(make_store, swift):
    store = make_store(large_object_size=MiB, segment_size=MiB)
    for key, size in (("small", 1000), ("exact", MiB)):  # exactly the limit: nothing follows
        data = os.urandom(size)
        uri = store.save(key, io.BytesIO(data))
        with store.open(uri) as reader:
            assert b"".join(reader) == data
        assert not is_slo(swift, store.container, key)
        assert segment_names(swift, store.container, key) == []


class StopObjectServerAfter:
    """A client stream that stops Swift's object server once `after` bytes have been read."""

    def __init__(self, data, swift_aio, *, after):
        self._data = io.BytesIO(data)
        self._swift_aio = swift_aio
        self._after = after
        self.stopped = False

    def read(self, n=-1):
        if not self.stopped and self._data.tell() >= self._after:
            self._swift_aio.stop("object")
            self.stopped = True
        return self._data.read(n)


def test_object_server_down_during_an_upload_fails_and_leaves_nothing(make_store, swift,
                                                                      swift_aio, payload):
    store = make_store("swift-outage")
    stream = StopObjectServerAfter(payload, swift_aio, after=MiB)

    with pytest.raises(StoreUnavailable, match="swift-outage") as info:
        store.save("img", stream)

    assert stream.stopped
    assert info.value.store == "swift-outage"
    swift_aio.start()
    assert not store.exists(store.uri_for("img"))
    assert "img" not in set(store.keys())
    assert segment_names(swift, store.container, "img") == []


def test_what_an_upload_cut_off_by_an_outage_left_behind_goes_with_delete(make_store, swift,
                                                                          swift_aio, payload):
    """While the object servers are down nothing can be removed; delete() later removes it all."""
    store = make_store("swift-outage", large_object_size=MiB, segment_size=MiB)
    stream = StopObjectServerAfter(payload, swift_aio, after=2 * MiB + 1)  # into segment 3

    with pytest.raises(StoreUnavailable, match="swift-outage"):
        store.save("img", stream)

    swift_aio.start()
    assert segment_names(swift, store.container, "img")  # segment 1 (and maybe 2) remain
    store.delete(store.uri_for("img"))
    assert not store.exists(store.uri_for("img"))
    assert segment_names(swift, store.container, "img") == []


def test_object_server_down_during_a_download_raises_store_unavailable_while_reading(
        make_store, swift_aio):
    store = make_store("swift-outage")
    # Loopback socket buffers hold several MiB: a smaller object could arrive whole before
    # the object server stops.
    data = os.urandom(32 * MiB)
    uri = store.save("img", io.BytesIO(data))

    reader = store.open(uri)
    chunks = iter(reader)
    received = len(next(chunks))
    swift_aio.stop("object")
    with pytest.raises(StoreUnavailable, match="swift-outage"):
        for chunk in chunks:
            received += len(chunk)
    reader.close()
    assert 0 < received < len(data)


def test_health_is_false_while_the_object_server_or_the_proxy_is_down(make_store, swift,
                                                                      swift_aio):
    store = make_store("swift-outage")
    store.save("img", io.BytesIO(b"x"))
    assert store.health().ok

    swift_aio.stop("object")
    # The container servers still answer a container HEAD: only a request that reaches
    # the object servers shows that no object can be read or written.
    swift.head_container(store.container)
    health = store.health()
    assert not health.ok
    assert "503" in health.reason

    swift_aio.stop("proxy")
    health = store.health()
    assert not health.ok
    assert "swift-outage" in health.reason

    swift_aio.start()
    assert store.health().ok


def test_health_is_ok_before_the_container_exists(make_store, swift):
    store = make_store()
    health = store.health()
    assert health.ok
    with pytest.raises(ClientException):
        swift.head_container(store.container)


def test_uri_names_reference_container_and_key(make_store, unique_name):
    store = make_store()
    assert store.uri_for("img-1") == f"swift+config://ref1/{unique_name}/img-1"
    assert store.save("img-1", io.BytesIO(b"x")) == f"swift+config://ref1/{unique_name}/img-1"


def test_a_location_is_ours_only_with_our_container_and_reference(make_store, unique_name):
    store = make_store()
    assert store.key_of(f"swift+config://ref1/{unique_name}/img-1") == "img-1"
    # Legacy locations with credentials, as older Glance databases hold them.
    legacy = f"swift+https://test:tester:secret@keystone.example/v3/{unique_name}/img-1"
    assert store.key_of(legacy) == "img-1"
    for uri in (f"swift+config://ref2/{unique_name}/img-1",
                "swift+config://ref1/other-container/img-1",
                f"swift+config://ref1/{unique_name}_segments/img-1"):
        with pytest.raises(InvalidLocation):
            store.key_of(uri)


def test_a_reader_left_open_is_not_disturbed_by_other_calls_on_the_same_thread(make_store,
                                                                                payload):
    store = make_store(chunk_size=256 * 1024)
    uri = store.save("img", io.BytesIO(payload))

    with store.open(uri) as reader:
        head = reader.read(1000)
        store.save("other", io.BytesIO(b"other bytes"))
        assert store.size(store.uri_for("other")) == 11
        assert head + b"".join(reader) == payload


def test_threads_share_a_store(make_store):
    store = make_store()
    blobs = {f"img-{n}": os.urandom(300_000 + n) for n in range(6)}
    errors = []

    def work(key):
        try:
            uri = store.save(key, io.BytesIO(blobs[key]))
            with store.open(uri) as reader:
                assert b"".join(reader) == blobs[key]
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(key,)) for key in blobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert set(store.keys()) == set(blobs)


def test_info_names_container_and_large_object_sizes(make_store, unique_name):
    store = make_store(large_object_size=2 * MiB, segment_size=MiB)
    assert store.info() == {"container": unique_name, "large_object_size": 2 * MiB,
                            "large_object_chunk_size": MiB}
    assert "testing" not in repr(store.info())


class Body:
    """A request body of unknown length, streamed as swiftclient streams an upload."""

    def __init__(self, size):
        self._data = io.BytesIO(os.urandom(size))

    def read(self, n=-1):
        return self._data.read(n)


def test_the_swift_all_in_one_refuses_a_put_with_if_none_match_over_an_existing_object(
        swift, swift_container):
    """What the store relies on: a conditional PUT never replaces an object, even with a
    large streamed body; a conditional COPY applies to its source, so cannot be used."""
    swift.put_container(swift_container)
    swift.put_object(swift_container, "theirs", b"their bytes")

    for body in (b"mine", Body(8 * MiB)):
        with pytest.raises(ClientException) as info:
            swift.put_object(swift_container, "theirs", body, headers={"If-None-Match": "*"})
        assert info.value.http_status == 412
    swift.put_object(swift_container, "new", b"mine", headers={"If-None-Match": "*"})
    with pytest.raises(ClientException) as info:
        swift.copy_object(swift_container, "new", destination=f"/{swift_container}/other",
                          headers={"If-None-Match": "*"})
    assert info.value.http_status == 304

    assert swift.get_object(swift_container, "theirs")[1] == b"their bytes"
    with pytest.raises(ClientException):
        swift.head_object(swift_container, "other")


def plant_segment(swift, container, name, data=b"their segment"):
    swift.put_container(f"{container}_segments")
    swift.put_object(f"{container}_segments", name, data)


def segment_bytes(swift, container, name):
    return swift.get_object(f"{container}_segments", name)[1]


@pytest.mark.parametrize("number", [1, 3], ids=["copied-first-segment", "uploaded-segment"])
def test_a_large_save_onto_an_existing_segment_raises_object_exists_and_leaves_it(
        make_store, swift, payload, number):
    store = make_store(large_object_size=MiB, segment_size=MiB)
    theirs = f"img/{number:08d}"
    plant_segment(swift, store.container, theirs)

    with pytest.raises(ObjectExists, match=theirs):
        store.save("img", io.BytesIO(payload))

    assert segment_bytes(swift, store.container, theirs) == b"their segment"
    assert segment_names(swift, store.container, "img") == [theirs]  # this save's are gone
    assert not store.exists(store.uri_for("img"))


def test_a_failed_large_save_removes_its_segments_and_not_one_it_did_not_write(
        make_store, swift, payload):
    store = make_store(large_object_size=MiB, segment_size=MiB)
    plant_segment(swift, store.container, "img/00000009")

    with pytest.raises(StreamError):
        store.save("img", FailingStream(payload))

    assert segment_names(swift, store.container, "img") == ["img/00000009"]
    assert segment_bytes(swift, store.container, "img/00000009") == b"their segment"
    assert not store.exists(store.uri_for("img"))


def test_delete_partial_removes_a_static_large_object_and_leftover_segments(make_store, swift,
                                                                           payload):
    store = make_store(large_object_size=MiB, segment_size=MiB)
    store.save("img", io.BytesIO(payload))
    plant_segment(swift, store.container, "img/00000042")  # an earlier attempt's leftover

    store.delete_partial("img")

    assert not store.exists(store.uri_for("img"))
    assert segment_names(swift, store.container, "img") == []
    store.delete_partial("img")


def test_segment_keys_names_the_owner_of_every_segment(make_store, swift, payload):
    store = make_store(large_object_size=2 * MiB, segment_size=2 * MiB)
    assert list(store.segment_keys()) == []  # no segments container yet

    store.save("big", io.BytesIO(payload))
    store.save("small", io.BytesIO(b"small"))
    plant_segment(swift, store.container, "gone/00000001")

    assert sorted(store.segment_keys()) == [("big", "big/00000001"), ("big", "big/00000002"),
                                            ("gone", "gone/00000001")]


def test_a_multi_tenant_glance_location_is_not_claimed_by_a_single_container_store(
        make_store, unique_name):
    """Glance's multi-tenant mode puts each image in a container of its own."""
    store = make_store()
    image_id = "0e1f2a3b-4c5d-6e7f-8091-a2b3c4d5e6f7"
    for uri in (f"swift+https://swift.example/v1/AUTH_tenant/glance_{image_id}/{image_id}",
                f"swift+config://ref1/{unique_name}_{image_id}/{image_id}"):
        with pytest.raises(InvalidLocation, match="not the container"):
            store.key_of(uri)
        assert not store.owns(uri)
