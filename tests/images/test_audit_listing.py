"""Audits by listing give the findings of a request per object, on stores shared with others.

Each store (a file folder, a Swift container with a Glance large object and a static large
object, an S3 bucket with a multipart object) holds the portal's images, a missing one, a
short one, a tampered one, objects someone else wrote, a leftover, an upload in flight, data
kept for a pending delete and a location naming an object by another name. The same audit
then runs by listing and with the listing turned off (a request per location).
"""
import hashlib
import time
import uuid

import pytest

from images.models import Image, ImageLocation
from images.services import audit_listing
from images.services.audit import audit_run
from stores.registry import get_store
from tests import factories
from tests.factories import random_data
from tests.stores.glance_dlo import glance_dlo_write

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.engines]

MiB = 2**20
DATA = random_data(40_000)


class Shared:
    """The store `shared` and what someone else does to it from outside the portal."""

    def __init__(self, kind, put, remove):
        self.kind, self.put, self.remove = kind, put, remove

    @property
    def store(self):
        return get_store("shared")


@pytest.fixture(params=["file", "swift", "s3"])
def shared(request, settings, file_stores, tmp_path):
    kind = request.param
    if kind == "file":
        root = tmp_path / "shared"
        root.mkdir()
        options = {"root": str(root)}
        put = (lambda key, data: (root / key).write_bytes(data))
        remove = (lambda key: (root / key).unlink())
        backend = "stores.backends.file.FileStore"
    elif kind == "swift":
        env, conn = request.getfixturevalue("swift_env"), request.getfixturevalue("swift")
        container = request.getfixturevalue("swift_container")
        # Small limits, so that a 3 MiB image becomes a static large object.
        options = {"auth_url": env["SWIFT_AUTH_URL"], "user": env["SWIFT_USER"],
                   "key": env["SWIFT_KEY"], "container": container, "reference": "ref1",
                   "large_object_size": 2 * MiB, "segment_size": MiB}
        put = (lambda key, data: conn.put_object(container, key, data))
        remove = (lambda key: conn.delete_object(container, key))
        backend = "stores.backends.swift.SwiftStore"
    else:
        env, s3 = request.getfixturevalue("swift_env"), request.getfixturevalue("s3")
        bucket = request.getfixturevalue("s3_bucket")
        # 5 MiB parts: a 6 MiB image is a multipart upload.
        options = {"endpoint_url": env["S3_ENDPOINT_URL"], "access_key": env["S3_ACCESS_KEY"],
                   "secret_key": env["S3_SECRET_KEY"], "region": env["S3_REGION"],
                   "bucket": bucket, "chunk_size": 5 * MiB}
        put = (lambda key, data: s3.put_object(Bucket=bucket, Key=key, Body=data))
        remove = (lambda key: s3.delete_object(Bucket=bucket, Key=key))
        backend = "stores.backends.s3.S3Store"
    settings.STORES = {**settings.STORES, "shared": {"BACKEND": backend, "OPTIONS": options}}
    return Shared(kind, put, remove)


def activate(image, data):
    Image.objects.filter(pk=image.pk).update(
        status=Image.Status.ACTIVE, size=len(data), checksum=hashlib.md5(data).hexdigest(),
        os_hash_algo="sha512", os_hash_value=hashlib.sha512(data).hexdigest())


def populate(shared, request):
    """Every kind of object and location; returns the ids of the plain images that are ok."""
    store, name = shared.store, "shared"
    plain = [factories.active_image(random_data(1000 + n), store_name=name)[0].id
             for n in range(6)]
    missing, _ = factories.active_image(DATA, store_name=name)
    shared.remove(missing.id)
    short, _ = factories.active_image(DATA, store_name=name)
    shared.remove(short.id)
    shared.put(short.id, DATA[:100])
    tampered, _ = factories.active_image(DATA, store_name=name)
    shared.remove(tampered.id)
    shared.put(tampered.id, bytes([DATA[0] ^ 1]) + DATA[1:])  # same size: deep finds it
    # Two locations of one image naming the same object.
    location = ImageLocation.objects.get(image_id=plain[0])
    ImageLocation.objects.create(image_id=plain[0], value=location.value,
                                 meta_data={"store": name})
    # Objects the portal did not write, one named like an image id.
    shared.put("someone-elses.img", b"x" * 7)
    shared.put(str(uuid.uuid4()), b"y" * 11)
    # A leftover of the portal's; an upload in flight; data kept for a pending delete.
    queued = factories.image()
    factories.journaled(name, queued.id)
    shared.put(queued.id, b"half an upload")
    saving = factories.image()
    Image.objects.filter(pk=saving.pk).update(status=Image.Status.SAVING)
    shared.put(saving.id, b"partial")
    pending, _ = factories.active_image(DATA, store_name=name)
    ImageLocation.objects.filter(image=pending).update(
        status=ImageLocation.Status.PENDING_DELETE)
    # A location naming its object by another name than the image id.
    renamed = factories.image()
    shared.put("renamed-copy", DATA)
    activate(renamed, DATA)
    ImageLocation.objects.create(image=renamed, value=store.uri_for("renamed-copy"),
                                 meta_data={"store": name})
    if shared.kind == "swift":
        conn, container = request.getfixturevalue("swift"), store.container
        glance = factories.image()
        data = random_data(2 * MiB + 5)
        glance_dlo_write(conn, container, glance.id, data, MiB)  # listed with 0 bytes
        activate(glance, data)
        ImageLocation.objects.create(image=glance, value=store.uri_for(glance.id),
                                     meta_data={"store": name})
        glance_dlo_write(conn, container, str(uuid.uuid4()), b"s" * 300, 200)  # nobody's
        factories.active_image(random_data(3 * MiB), store_name=name)  # a static large object
        conn.put_container(store.segments_container)
        conn.put_object(store.segments_container, f"{uuid.uuid4()}/00000001", b"lost")
    if shared.kind == "s3":
        factories.active_image(random_data(6 * MiB), store_name=name)  # multipart
    if shared.kind != "file":
        settled(store)
    return plain


def settled(store):
    """Wait until the store's listing stops changing. Swift updates a container's listing
    after it wrote the object, later when it is busy; the audits compared must read the
    same listing."""
    before = None
    for _ in range(30):
        now = (sorted(store.entries()), sorted(store.segment_keys()))
        if now == before:
            return
        before = now
        time.sleep(1)
    pytest.skip("the store's listing kept changing for 30 s")


def findings(**options):
    return sorted((f.image_id or "", f.store, f.location, str(f.finding), f.detail, f.size)
                  for f in audit_run(record=False, **options))


def asked_for(store, monkeypatch):
    """The keys whose size is asked from the store one object at a time."""
    keys = []
    size = store._size

    def spy(key):
        keys.append(key)
        return size(key)

    monkeypatch.setattr(store, "_size", spy)
    return keys


@pytest.mark.parametrize("deep", [False, True], ids=["shallow", "deep"])
def test_the_listing_finds_what_a_request_per_object_finds(shared, request, monkeypatch, deep):
    plain = populate(shared, request)
    store = shared.store
    assert audit_listing.listable(store) is not None
    asked = asked_for(store, monkeypatch)
    listed = findings(store_name="shared", deep=deep)
    listed_asked = list(asked)
    monkeypatch.setattr(store, "bulk_listing", None)
    asked.clear()
    assert findings(store_name="shared", deep=deep) == listed
    kinds = sorted(f[3] for f in listed)
    assert kinds.count("missing") == 1 and kinds.count("size_mismatch") == 1
    assert kinds.count("checksum_mismatch") == (1 if deep else 0)
    assert kinds.count("leftover") == 1
    assert kinds.count("foreign") == {"file": 2, "swift": 2 + 3 + 1, "s3": 2}[shared.kind]
    # By listing, the plain objects that are fine are never asked for one at a time.
    assert not set(plain) & set(listed_asked)
    assert len(listed_asked) < len(asked)


def test_pages_and_batches_of_any_size_give_the_same_findings(shared, request, monkeypatch):
    populate(shared, request)
    everything = findings()
    monkeypatch.setattr(audit_listing, "PAGE", 2)
    monkeypatch.setattr(audit_listing, "BATCH", 3)
    assert findings() == everything
    monkeypatch.setattr(shared.store, "bulk_listing", None)
    assert findings() == everything


def test_locations_read_in_another_order_than_the_listing_give_the_same_findings(
        shared, request, monkeypatch):
    """A database whose collation orders the image ids otherwise than the store lists them."""
    populate(shared, request)
    everything = findings()
    rows = audit_listing._rows
    monkeypatch.setattr(audit_listing, "_rows", lambda *args, **kwargs: iter(
        sorted(rows(*args, **kwargs), key=lambda row: row[1][::-1])))
    assert findings() == everything
