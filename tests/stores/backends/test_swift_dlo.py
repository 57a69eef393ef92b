"""Glance's Swift dynamic large objects in a SwiftStore: read, sized, copied, deleted."""
import io
import os

import pytest
from swiftclient import ClientException

from stores.exceptions import ObjectExists, StoreError
from tests.stores.glance_dlo import glance_dlo_write

MiB = 2**20
IMAGE = "6f1c2a3e-8d4b-4c5a-9e7f-0a1b2c3d4e5f"
OTHER = "7a2b3c4d-5e6f-4a1b-8c9d-0e1f2a3b4c5d"


@pytest.fixture
def dlo(swift, swift_store, payload):
    """The payload as glance_store writes an image: 1 MiB segments, then the manifest."""
    glance_dlo_write(swift, swift_store.container, IMAGE, payload, MiB)
    return swift_store.uri_for(IMAGE)


def names_in(swift, container):
    return [entry["name"] for entry in swift.get_container(container, full_listing=True)[1]]


def test_the_helper_writes_what_glance_store_writes(swift, swift_store, dlo, payload):
    container = swift_store.container
    assert names_in(swift, container) == [IMAGE] + [f"{IMAGE}-{n:05d}" for n in (1, 2, 3, 4)]
    headers, body = swift.get_object(container, IMAGE, query_string="multipart-manifest=get")
    assert headers["x-object-manifest"] == f"{container}/{IMAGE}-"
    assert body == b""
    assert swift.get_object(container, f"{IMAGE}-00004")[1] == payload[3 * MiB:]


def test_size_of_a_dlo_is_the_size_of_its_segments_together(swift_store, dlo, payload):
    assert swift_store.size(dlo) == len(payload)
    assert swift_store.exists(dlo)
    assert swift_store.modified(dlo).tzinfo is not None


def test_a_dlo_reads_back_as_its_segments_in_order(swift_store, dlo, payload):
    with swift_store.open(dlo) as reader:
        assert b"".join(reader) == payload


@pytest.mark.parametrize("offset, length", [(MiB - 10, 20), (10, 2 * MiB + 5),
                                            (3 * MiB, None), (3 * MiB + 17, None),
                                            (5 * MiB, None), (0, 0)])
def test_a_range_of_a_dlo_reads_across_its_segments(swift_store, dlo, payload, offset, length):
    end = None if length is None else offset + length
    with swift_store.open(dlo, offset=offset, length=length) as reader:
        assert b"".join(reader) == payload[offset:end]


def test_a_dlo_copies_byte_for_byte_into_another_store(swift_store, file_store, dlo, payload):
    with swift_store.open(dlo) as reader:
        uri = file_store.save(IMAGE, reader)
    assert file_store.size(uri) == swift_store.size(dlo)
    with file_store.open(uri) as reader:
        assert b"".join(reader) == payload


def test_an_empty_dlo_is_an_empty_object(swift, swift_store):
    glance_dlo_write(swift, swift_store.container, IMAGE, b"", MiB)
    uri = swift_store.uri_for(IMAGE)
    assert swift_store.size(uri) == 0
    with swift_store.open(uri) as reader:
        assert b"".join(reader) == b""


def test_a_save_onto_a_dlo_raises_object_exists_and_leaves_manifest_and_segments(
        swift, swift_store, dlo, payload):
    before = names_in(swift, swift_store.container)

    with pytest.raises(ObjectExists):
        swift_store.save(IMAGE, io.BytesIO(os.urandom(1000)))

    assert names_in(swift, swift_store.container) == before
    with swift_store.open(dlo) as reader:
        assert b"".join(reader) == payload


def test_deleting_a_dlo_removes_its_segments_and_manifest_and_nothing_else(swift, swift_store,
                                                                           dlo):
    glance_dlo_write(swift, swift_store.container, OTHER, b"other image", 4)
    swift.put_object(swift_store.container, f"{IMAGE}-notes", b"not a segment")
    others = names_in(swift, swift_store.container)[5:]

    swift_store.delete(dlo)

    assert names_in(swift, swift_store.container) == others
    assert not swift_store.exists(dlo)
    swift_store.delete(dlo)  # already missing: not an error


def test_a_dlo_delete_cut_off_half_way_finishes_when_run_again(swift, swift_store, dlo):
    for number in (1, 3):  # as a delete cut off after some segments would leave it
        swift.delete_object(swift_store.container, f"{IMAGE}-{number:05d}")

    swift_store.delete(dlo)

    assert names_in(swift, swift_store.container) == []


@pytest.mark.parametrize("manifest", ["{container}/{other}-", "{container}/{image}",
                                      "{container}_segments/{image}-", "elsewhere/{image}-"])
def test_a_dlo_whose_manifest_points_elsewhere_is_not_deleted(swift, swift_store, manifest):
    container = swift_store.container
    prefix = manifest.format(container=container, image=IMAGE, other=OTHER)
    glance_dlo_write(swift, container, OTHER, b"another image's bytes", 8)
    swift.put_object(container, f"{IMAGE}-00001", b"named like a segment")
    swift.put_object(container, IMAGE, None, headers={"X-Object-Manifest": prefix})
    before = names_in(swift, container)

    with pytest.raises(StoreError, match=prefix):
        swift_store.delete(swift_store.uri_for(IMAGE))

    assert names_in(swift, container) == before
    manifest_get = "multipart-manifest=get"  # a plain HEAD is 404 when segments are missing
    assert swift.head_object(container, IMAGE, query_string=manifest_get)[
        "x-object-manifest"] == prefix


def test_manifest_prefix_is_the_x_object_manifest_of_an_object(swift, swift_store, dlo):
    swift_store.save("plain", io.BytesIO(b"x"))
    assert swift_store.manifest_prefix(IMAGE) == f"{swift_store.container}/{IMAGE}-"
    assert swift_store.manifest_prefix("plain") is None
    assert swift_store.manifest_prefix("missing") is None


@pytest.mark.parametrize("key, owner", [(f"{IMAGE}-00001", IMAGE), (f"{IMAGE}-123456", IMAGE),
                                        ("img-00042", "img"), (IMAGE, None),
                                        (f"{IMAGE}-0001", None), (f"{IMAGE}-notes", None),
                                        ("-00001", None), (".x-00001", None),
                                        ("img/00000001", None)])
def test_dlo_owner_recognises_glance_segment_names(swift_store, key, owner):
    assert swift_store.dlo_owner(key) == owner


def test_dlo_segments_are_listed_as_keys_and_not_as_segments(swift_store, dlo):
    assert set(swift_store.keys()) == {IMAGE} | {f"{IMAGE}-{n:05d}" for n in (1, 2, 3, 4)}
    assert list(swift_store.segment_keys()) == []


def test_a_dlo_segment_of_the_segments_container_is_never_created(swift, swift_store, dlo):
    """Reading, sizing and deleting a DLO touch only the image's container."""
    with swift_store.open(dlo) as reader:
        b"".join(reader)
    swift_store.delete(dlo)
    with pytest.raises(ClientException):
        swift.head_container(f"{swift_store.container}_segments")
