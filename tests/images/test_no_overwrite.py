"""Nothing the portal writes replaces an object someone else wrote, and every write is in the
journal: a client-chosen id that names an object, or a Glance image, is refused; an upload,
stage or copy that finds an object under its key is refused with 409 and leaves it."""
import io
import json
import os
import subprocess

import pytest

from images import services
from images.exceptions import Conflict, Invalid, StoreFailed
from images.models import Image, ImageLocation, StoreWrite
from images.services.imports import image_stage
from images.services.writes import HOST
from tests import factories
from tests.glance_alias import glance_db  # noqa: F401 (a fixture)
from tests.factories import api_client

pytestmark = [pytest.mark.django_db(transaction=True)]

FOREIGN = b"an image some other tool wrote"
GLANCE_IMAGE = "92e430df-315d-4a85-a137-90e6d21b6fa3"  # copied-both, in the Glance database


def journal(image_id):
    return list(StoreWrite.objects.filter(image_id=image_id).order_by("id")
                .values_list("store", "key", "purpose", "outcome"))


@pytest.mark.parametrize("bad", ["urn:uuid:0d1c6f3e-58c4-4b0a-9d4e-9f6d0f3c2a11",
                                 "0D1C6F3E-58C4-4B0A-9D4E-9F6D0F3C2A11",
                                 "{0d1c6f3e-58c4-4b0a-9d4e-9f6d0f3c2a11}",
                                 "0d1c6f3e58c44b0a9d4e9f6d0f3c2a11",
                                 "0d1c6f3e5-8c4-4b0a-9d4e-9f6d0f3c2a11"])
def test_a_client_chosen_id_must_be_a_canonical_uuid(file_stores, bad):
    with pytest.raises(Invalid, match="canonical"):
        factories.image(id=bad)
    assert not Image.all_objects.exists()


def test_a_client_chosen_id_naming_an_object_in_a_store_is_refused_and_the_object_kept(
        file_stores):
    image_id = "0d1c6f3e-58c4-4b0a-9d4e-9f6d0f3c2a11"
    (file_stores["cheap"] / image_id).write_bytes(FOREIGN)
    with pytest.raises(Conflict, match="'cheap' already holds an object"):
        factories.image(id=image_id)
    assert not Image.all_objects.exists()
    assert (file_stores["cheap"] / image_id).read_bytes() == FOREIGN


def test_the_api_answers_409_for_an_id_a_store_already_holds(file_stores):
    image_id = "0d1c6f3e-58c4-4b0a-9d4e-9f6d0f3c2a11"
    (file_stores["fast"] / image_id).write_bytes(FOREIGN)
    client = api_client("alice")
    response = client.post("/v2/images", data=json.dumps(
        {"id": image_id, "disk_format": "raw", "container_format": "bare"}),
        content_type="application/json")
    assert response.status_code == 409, response.content
    assert "already holds an object" in response.content.decode()
    assert (file_stores["fast"] / image_id).read_bytes() == FOREIGN
    assert not Image.all_objects.exists()


def test_a_client_chosen_id_that_the_glance_database_holds_is_refused(glance_db):
    with pytest.raises(Conflict, match="already exists"):
        factories.image(id=GLANCE_IMAGE)
    assert not Image.all_objects.exists()


def test_an_upload_onto_an_object_that_appeared_under_its_key_is_refused_and_leaves_it(
        file_stores):
    image = factories.image()
    (file_stores["fast"] / image.id).write_bytes(FOREIGN)  # written after the image's create
    with pytest.raises(Conflict, match="did not write"):
        services.image_upload(image=image, stream=io.BytesIO(b"ours" * 1000))
    assert (file_stores["fast"] / image.id).read_bytes() == FOREIGN
    image.refresh_from_db()
    assert image.status == Image.Status.QUEUED
    assert not ImageLocation.objects.filter(image=image).exists()
    assert journal(image.id) == [("fast", image.id, "upload", "refused")]


def test_a_copy_onto_an_object_already_in_the_target_store_is_refused_and_leaves_both(
        file_stores):
    image, data = factories.active_image()
    (file_stores["cheap"] / image.id).write_bytes(FOREIGN)
    with pytest.raises(Conflict):
        services.location_copy(image=image, store_name="cheap")
    assert (file_stores["cheap"] / image.id).read_bytes() == FOREIGN
    assert (file_stores["fast"] / image.id).read_bytes() == data
    assert [loc.store for loc in ImageLocation.objects.filter(image=image)] == ["fast"]


def test_a_stage_onto_someone_elses_staging_object_is_refused_and_leaves_it(file_stores):
    image = factories.image()
    staged = file_stores["fast"] / f"staging-{image.id}"
    staged.write_bytes(FOREIGN)
    with pytest.raises(Conflict):
        image_stage(image=image, stream=io.BytesIO(b"ours"))
    assert staged.read_bytes() == FOREIGN
    image.refresh_from_db()
    assert image.status == Image.Status.QUEUED


def test_each_write_is_journaled_and_closed_with_what_became_of_it(file_stores):
    image, _ = factories.active_image()
    services.location_copy(image=image, store_name="cheap")
    assert journal(image.id) == [("fast", image.id, "upload", "recorded"),
                                 ("cheap", image.id, "copy", "recorded")]
    row = StoreWrite.objects.filter(image_id=image.id).first()
    assert (row.host, row.pid) != ("", None) and row.closed_at >= row.started_at

    failed = factories.image()

    class Broken(io.BytesIO):
        def read(self, n=-1):
            if self.tell() >= 2**20:
                raise OSError("client went away")
            return super().read(n)

    with pytest.raises(StoreFailed, match="client went away"):
        services.image_upload(image=failed, stream=Broken(os.urandom(3 * 2**20)))
    assert not (file_stores["fast"] / failed.id).exists()
    assert journal(failed.id) == [("fast", failed.id, "upload", "removed")]


def test_a_new_upload_first_removes_the_partial_its_own_killed_attempt_left(file_stores):
    image = factories.image()
    factories.journaled("fast", image.id)  # the attempt whose process was killed
    (file_stores["fast"] / image.id).write_bytes(b"half of the first attempt")
    services.image_upload(image=image, stream=io.BytesIO(b"the whole image"))
    assert (file_stores["fast"] / image.id).read_bytes() == b"the whole image"
    assert journal(image.id) == [("fast", image.id, "upload", "removed"),
                                 ("fast", image.id, "upload", "recorded")]


def test_an_open_journal_row_never_proves_an_older_object_ours(file_stores):
    image = factories.image()
    stray = file_stores["fast"] / image.id
    stray.write_bytes(FOREIGN)
    old = stray.stat().st_mtime - 86400
    os.utime(stray, (old, old))  # there a day before the write the row records
    factories.journaled("fast", image.id, seconds_ago=600)
    with pytest.raises(Conflict):
        services.image_upload(image=image, stream=io.BytesIO(b"ours"))
    assert stray.read_bytes() == FOREIGN
    assert [outcome for *_, outcome in journal(image.id)] == ["refused", "refused"]


@pytest.mark.swift
def test_an_upload_onto_an_object_in_swift_is_refused_and_leaves_it(portal_with_swift, swift,
                                                                    swift_container):
    image = factories.image()
    swift.put_container(swift_container)
    swift.put_object(swift_container, image.id, FOREIGN)
    with pytest.raises(Conflict):
        services.image_upload(image=image, stream=io.BytesIO(b"ours" * 1000),
                              store_name="swift")
    assert swift.get_object(swift_container, image.id)[1] == FOREIGN
    image.refresh_from_db()
    assert image.status == Image.Status.QUEUED


def running_copy(image, store_name, *, pid, seconds_ago=5):
    """A copy of `image` into `store_name` journaled by process `pid` of this host."""
    row = factories.journaled(store_name, image.id, seconds_ago=seconds_ago, purpose="copy")
    StoreWrite.objects.filter(pk=row.pk).update(host=HOST, pid=pid)
    return row


def test_a_copy_onto_the_partial_of_a_copy_still_running_is_refused_and_touches_nothing(
        file_stores):
    image, _ = factories.active_image()
    running_copy(image, "cheap", pid=os.getppid())  # a live process, its heartbeat recent
    (file_stores["cheap"] / image.id).write_bytes(b"being copied elsewhere")
    with pytest.raises(Conflict, match="in progress"):
        services.location_copy(image=image, store_name="cheap")
    assert (file_stores["cheap"] / image.id).read_bytes() == b"being copied elsewhere"
    assert journal(image.id)[1:] == [("cheap", image.id, "copy", "")]


def test_a_copy_whose_process_died_is_cleared_away_by_the_next_one_at_once(file_stores):
    image, data = factories.active_image()
    dead = subprocess.Popen(["true"])
    dead.wait()
    running_copy(image, "cheap", pid=dead.pid)  # a worker killed a moment ago
    (file_stores["cheap"] / image.id).write_bytes(b"half a copy")
    services.location_copy(image=image, store_name="cheap")
    assert (file_stores["cheap"] / image.id).read_bytes() == data
    assert journal(image.id)[1:] == [("cheap", image.id, "copy", "removed"),
                                     ("cheap", image.id, "copy", "recorded")]


def test_a_failed_upload_whose_partial_stays_does_not_hold_up_the_next_one(file_stores):
    image = factories.image()
    row = factories.journaled("fast", image.id, seconds_ago=1)  # an upload of a moment ago
    StoreWrite.objects.filter(pk=row.pk).update(host=HOST, pid=os.getpid())
    (file_stores["fast"] / image.id).write_bytes(b"its partial, the store was down")
    services.image_upload(image=image, stream=io.BytesIO(b"the whole image"))
    assert (file_stores["fast"] / image.id).read_bytes() == b"the whole image"


def test_an_import_handed_out_again_while_the_first_run_writes_does_not_clear_its_partial(
        file_stores):
    image = factories.image()
    row = factories.journaled("fast", image.id, seconds_ago=5, purpose="import")
    StoreWrite.objects.filter(pk=row.pk).update(host=HOST, pid=os.getppid())  # still running
    (file_stores["fast"] / image.id).write_bytes(b"the first run's bytes so far")
    with pytest.raises(Conflict, match="in progress"):
        services.image_upload(image=image, stream=io.BytesIO(b"a second writer"))
    assert (file_stores["fast"] / image.id).read_bytes() == b"the first run's bytes so far"
