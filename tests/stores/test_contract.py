"""The contract every writable store driver keeps, run against real file, Swift and S3 stores."""
import io
from pathlib import Path

import pytest

from stores.exceptions import InvalidLocation, ObjectExists, ObjectNotFound, StreamError
from stores.locations import Location
from tests.streams import FailingStream


class Backend:
    """The store's backend reached directly, as another tool sharing it writes and reads it."""

    def __init__(self, put, get):
        self.put = put
        self.get = get


@pytest.fixture
def backend(store, request):
    if store.kind in ("file", "storage"):
        root = store.root if store.kind == "file" else Path(store.storage.location)
        root.mkdir(parents=True, exist_ok=True)
        return Backend(lambda key, data: (root / key).write_bytes(data),
                       lambda key: (root / key).read_bytes())
    if store.kind == "swift":
        swift = request.getfixturevalue("swift")
        swift.put_container(store.container)
        return Backend(lambda key, data: swift.put_object(store.container, key, data),
                       lambda key: swift.get_object(store.container, key)[1])
    s3 = request.getfixturevalue("s3")
    s3.create_bucket(Bucket=store.bucket)
    return Backend(lambda key, data: s3.put_object(Bucket=store.bucket, Key=key, Body=data),
                   lambda key: s3.get_object(Bucket=store.bucket, Key=key)["Body"].read())


def test_bytes_read_back_are_the_bytes_saved(store, payload):
    uri = store.save("img-1", io.BytesIO(payload))
    with store.open(uri) as reader:
        assert b"".join(reader) == payload


def test_save_returns_a_uri_the_store_owns_and_that_names_the_key(store, payload):
    uri = store.save("img-2", io.BytesIO(payload))
    assert store.owns(uri)
    assert Location.parse(uri).key == "img-2"
    assert store.key_of(uri) == "img-2"


def test_uri_holds_no_credentials(store):
    uri = store.save("img-3", io.BytesIO(b"x"))
    location = Location.parse(uri)
    assert not location.has_credentials
    assert "testing" not in uri


def test_open_at_an_offset_reads_the_tail(store, payload):
    uri = store.save("img-4", io.BytesIO(payload))
    with store.open(uri, offset=2**20 + 5) as reader:
        assert b"".join(reader) == payload[2**20 + 5:]


def test_open_with_a_length_reads_that_many_bytes(store, payload):
    uri = store.save("img-5", io.BytesIO(payload))
    with store.open(uri, offset=10, length=1000) as reader:
        assert b"".join(reader) == payload[10:1010]


def test_size_and_exists_report_the_object(store, payload):
    uri = store.save("img-6", io.BytesIO(payload))
    assert store.exists(uri)
    assert store.size(uri) == len(payload)


def test_an_empty_object_can_be_saved_and_read(store):
    uri = store.save("img-empty", io.BytesIO(b""))
    assert store.size(uri) == 0
    with store.open(uri) as reader:
        assert b"".join(reader) == b""


def test_delete_removes_the_object_and_tolerates_a_missing_one(store):
    uri = store.save("img-7", io.BytesIO(b"data"))
    store.delete(uri)
    assert not store.exists(uri)
    store.delete(uri)  # already missing: not an error
    with pytest.raises(ObjectNotFound):
        store.size(uri)


def test_opening_a_missing_object_raises_object_not_found(store):
    with pytest.raises(ObjectNotFound):
        reader = store.open(store.uri_for("never-written"))
        b"".join(reader)


def test_keys_lists_saved_objects(store):
    for key in ("a-1", "a-2"):
        store.save(key, io.BytesIO(key.encode()))
    assert {"a-1", "a-2"} <= set(store.keys())


def test_entries_list_each_object_with_its_size_where_the_listing_has_one(store):
    store.save("e-1", io.BytesIO(b"x" * 5))
    store.save("e-2", io.BytesIO(b""))
    entries = dict(store.entries())
    expected = {"e-1": 5, "e-2": 0}
    assert {key: entries[key] for key in expected} in (expected, dict.fromkeys(expected))


def test_a_stream_that_fails_half_way_leaves_nothing_in_the_store(store, payload):
    with pytest.raises(StreamError):
        store.save("img-broken", FailingStream(payload))
    assert "img-broken" not in set(store.keys())
    assert not store.exists(store.uri_for("img-broken"))


def test_a_key_with_path_characters_is_refused(store):
    for key in ("../etc/passwd", "a/b", ""):
        with pytest.raises(InvalidLocation):
            store.save(key, io.BytesIO(b"x"))


def test_a_uri_of_another_kind_of_store_is_refused(store):
    foreign = ("http://example.invalid/x" if store.kind != "http" else "file:///etc/passwd")
    with pytest.raises(InvalidLocation):
        store.open(foreign)


def test_health_is_ok_for_a_working_store(store):
    assert store.health().ok


def test_modified_tells_when_the_object_was_written(store):
    """How old an object is: the scrubber removes leftovers only past an age."""
    from datetime import datetime, timedelta, timezone

    before = datetime.now(timezone.utc) - timedelta(seconds=2)  # clocks tick in seconds
    uri = store.save("img-aged", io.BytesIO(b"x"))
    written = store.modified(uri)
    assert written.tzinfo is not None
    assert before <= written <= datetime.now(timezone.utc) + timedelta(seconds=2)
    store.delete(uri)
    with pytest.raises(ObjectNotFound):
        store.modified(uri)


def test_a_save_onto_an_object_someone_else_wrote_raises_object_exists_and_leaves_it(
        store, backend, payload):
    backend.put("img-theirs", b"their bytes")

    with pytest.raises(ObjectExists) as info:
        store.save("img-theirs", io.BytesIO(payload))

    assert info.value.store == store.name
    assert backend.get("img-theirs") == b"their bytes"


def test_a_failing_stream_onto_an_existing_object_leaves_the_object(store, backend, payload):
    backend.put("img-theirs", b"their bytes")

    with pytest.raises((ObjectExists, StreamError)):
        store.save("img-theirs", FailingStream(payload))

    assert backend.get("img-theirs") == b"their bytes"


def test_a_second_save_of_a_key_is_refused_and_the_first_object_stays(store, payload):
    uri = store.save("img-twice", io.BytesIO(b"first"))

    with pytest.raises(ObjectExists):
        store.save("img-twice", io.BytesIO(payload))

    with store.open(uri) as reader:
        assert b"".join(reader) == b"first"


def test_a_failed_save_removes_its_own_partial_and_nothing_else(store, backend, payload):
    neighbours = {"img-broken-00001": b"a glance segment", "img-brokenx": b"another image"}
    for key, data in neighbours.items():
        backend.put(key, data)

    with pytest.raises(StreamError):
        store.save("img-broken", FailingStream(payload))

    assert not store.exists(store.uri_for("img-broken"))
    assert set(store.keys()) == set(neighbours)
    for key, data in neighbours.items():
        assert backend.get(key) == data


def test_delete_partial_removes_a_written_object_and_tolerates_a_missing_one(store, payload):
    uri = store.save("img-partial", io.BytesIO(payload))

    store.delete_partial("img-partial")

    assert not store.exists(uri)
    store.delete_partial("img-partial")  # already missing: not an error
    store.save("img-partial", io.BytesIO(b"again"))  # the name is free again


def test_delete_partial_refuses_a_key_with_path_characters(store):
    with pytest.raises(InvalidLocation):
        store.delete_partial("../img")


def test_a_plain_object_has_no_segments_and_no_manifest(store):
    uri = store.save("img-plain", io.BytesIO(b"plain"))
    assert list(store.segment_keys()) == []
    assert store.manifest_prefix(store.key_of(uri)) is None
    assert store.manifest_prefix("never-written") is None
    assert store.dlo_owner("img-plain") is None


def test_only_swift_writes_segments_apart_from_the_object(store):
    prefix = store.segment_prefix("img-1")
    if store.kind == "swift":
        assert prefix == f"{store.container}_segments/img-1/"
    else:
        assert prefix is None
