"""The scrubber: removes deleted images' data once their scrub time has passed, one location at
a time, through stores that fail; and cleans what interrupted uploads and imports left."""
import io
import os
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from images import services
from images.exceptions import Conflict
from images.models import Image, ImageLocation, ImageProperty, StoreWrite
from images.services.data import UPLOAD_ERROR_PROPERTY
from images.services.scrubber import image_restore, leftovers_scrub, scrub_run
from stores.backends.file import FileStore
from tests import factories

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.engines]

HOUR = 3600
LATER = timedelta(seconds=HOUR + 1)


@pytest.fixture
def delayed(settings, file_stores):
    settings.DELAYED_DELETE = True
    settings.SCRUB_TIME = HOUR
    settings.LEFTOVER_AGE = HOUR
    settings.STALE_UPLOAD_AGE = HOUR
    return file_stores


def pending_image(stores=("fast", "cheap")):
    """An image with data in `stores`, deleted: pending_delete with its data kept."""
    image, data = factories.active_image(store_name=stores[0])
    for name in stores[1:]:
        services.location_copy(image=image, store_name=name)
    services.image_delete(image=image)
    return image, data


def row(image):
    return Image.all_objects.get(pk=image.pk)


def location_states(image):
    return sorted((loc.store, loc.status, loc.deleted)
                  for loc in ImageLocation.all_objects.filter(image=image))


def age(path, seconds):
    """Make a file look `seconds` old."""
    stamp = time.time() - seconds
    os.utime(path, (stamp, stamp))


def test_scrub_before_the_scrub_time_removes_nothing(delayed):
    image, data = pending_image()
    report = scrub_run(now=timezone.now() + timedelta(seconds=HOUR - 60))
    assert report.removed == [] and report.waiting == [image.id]
    assert (delayed["fast"] / image.id).read_bytes() == data
    assert (delayed["cheap"] / image.id).read_bytes() == data
    assert row(image).status == Image.Status.PENDING_DELETE
    assert location_states(image) == [("cheap", "pending_delete", True),
                                      ("fast", "pending_delete", True)]


def test_scrub_after_the_scrub_time_removes_the_data_and_deletes_the_image(delayed):
    image, _ = pending_image()
    report = scrub_run(now=timezone.now() + LATER)
    assert sorted(store for _, store, _ in report.removed) == ["cheap", "fast"]
    assert report.deleted_images == [image.id]
    assert not (delayed["fast"] / image.id).exists()
    assert not (delayed["cheap"] / image.id).exists()
    assert (row(image).status, row(image).deleted) == (Image.Status.DELETED, True)
    assert location_states(image) == [("cheap", "deleted", True), ("fast", "deleted", True)]
    # Idempotent: a second run finds nothing to do and changes nothing.
    again = scrub_run(now=timezone.now() + LATER)
    assert again.removed == again.failed == again.deleted_images == []
    assert row(image).status == Image.Status.DELETED
    with pytest.raises(Conflict):
        image_restore(image_id=image.id)


def test_a_store_down_keeps_the_image_pending_delete_until_a_later_run(delayed, settings):
    image, data = pending_image()
    cheap = delayed["cheap"]
    unmounted = cheap.with_name("cheap-unmounted")
    cheap.rename(unmounted)  # the disk is gone: its data is not, and must not be forgotten
    report = scrub_run(now=timezone.now() + LATER)
    assert [store for _, store, _ in report.removed] == ["fast"]
    assert [store for _, store, _ in report.failed] == ["cheap"]
    assert report.deleted_images == []
    assert row(image).status == Image.Status.PENDING_DELETE
    assert location_states(image) == [("cheap", "pending_delete", True),
                                      ("fast", "deleted", True)]
    settings.SCRUB_TIME = 0  # the command scrubs as of now
    with pytest.raises(CommandError, match="could not be removed"):
        call_command("scrub", stdout=io.StringIO(), stderr=io.StringIO())
    unmounted.rename(cheap)
    assert (cheap / image.id).read_bytes() == data
    report = scrub_run(now=timezone.now() + LATER)
    assert [store for _, store, _ in report.removed] == ["cheap"]
    assert report.deleted_images == [image.id]
    assert not (cheap / image.id).exists()
    assert row(image).status == Image.Status.DELETED


def test_a_restore_after_part_of_the_data_is_gone_keeps_what_is_left(delayed):
    image, data = pending_image()
    delayed["cheap"].rename(delayed["cheap"].with_name("away"))
    scrub_run(now=timezone.now() + LATER)  # fast removed, cheap failed
    delayed["cheap"].with_name("away").rename(delayed["cheap"])
    restored = image_restore(image_id=image.id)
    assert restored.status == Image.Status.ACTIVE
    assert location_states(image) == [("cheap", "active", False), ("fast", "deleted", True)]
    reader, location = services.image_download(image=restored)
    with reader:
        assert b"".join(reader) == data and location.store == "cheap"


def test_a_delete_that_failed_without_delayed_delete_is_finished_by_the_scrubber(
        file_stores, settings):
    image, _ = factories.active_image()
    root = file_stores["fast"]
    root.rename(root.with_name("gone"))
    services.image_delete(image=image)
    assert location_states(image) == [("fast", "pending_delete", False)]
    root.with_name("gone").rename(root)
    assert (root / image.id).exists()
    report = scrub_run()  # no scrub time for a delete that was meant to be immediate
    assert [store for _, store, _ in report.removed] == ["fast"]
    assert not (root / image.id).exists()
    assert location_states(image) == [("fast", "deleted", True)]


def test_dry_run_lists_what_would_go_and_changes_nothing(delayed, settings):
    settings.SCRUB_TIME = 0
    image, data = pending_image(stores=("fast",))
    leftover = delayed["cheap"] / factories.image().id
    factories.journaled("cheap", leftover.name)
    leftover.write_bytes(b"partial")
    age(leftover, 2 * HOUR)
    out = io.StringIO()
    call_command("scrub", "--dry-run", stdout=out)
    text = out.getvalue()
    assert f"Would remove file://{delayed['fast']}/{image.id}" in text
    assert f"Would remove leftover file://{leftover}" in text
    assert (delayed["fast"] / image.id).read_bytes() == data
    assert leftover.read_bytes() == b"partial"
    assert row(image).status == Image.Status.PENDING_DELETE
    call_command("scrub", stdout=io.StringIO())
    assert not (delayed["fast"] / image.id).exists() and not leftover.exists()
    assert row(image).status == Image.Status.DELETED


def test_the_scrub_task_runs_every_five_minutes_and_for_leftovers_nightly(delayed, settings):
    from images.tasks import scrub_task
    from portal.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["scrub"]
    assert (entry["task"], entry["schedule"]) == ("images.tasks.scrub_task", 300)
    assert entry["kwargs"] == {"leftovers": False}
    assert settings.CELERY_BEAT_SCHEDULE["scrub-leftovers-nightly"]["kwargs"] == {
        "leftovers": True}
    assert entry["task"] in app.tasks
    settings.SCRUB_TIME = 0
    image, _ = pending_image(stores=("fast",))
    journaled = delayed["cheap"] / factories.image().id  # a write that died: row still open
    factories.journaled("cheap", journaled.name)
    journaled.write_bytes(b"partial")
    age(journaled, 2 * HOUR)
    closed = delayed["cheap"] / factories.image().id  # its row closed, its location gone
    StoreWrite.objects.filter(pk=factories.journaled("cheap", closed.name).pk).update(
        closed_at=timezone.now() - LATER, outcome=StoreWrite.Outcome.RECORDED)
    closed.write_bytes(b"copy")
    age(closed, 2 * HOUR)
    counts = scrub_task(**entry["kwargs"])  # the journal alone: no store listed
    assert (counts["removed"], counts["deleted_images"], counts["leftovers"]) == (1, 1, 1)
    assert row(image).status == Image.Status.DELETED
    assert not journaled.exists() and closed.exists()
    assert scrub_task(leftovers=True)["leftovers"] == 1
    assert not closed.exists()


class CountingFileStore(FileStore):
    """A file store that counts every delete it is asked for (a second one of the same object
    would pass silently: already missing is not an error), and deletes slowly, so that two
    scrubbers overlap."""

    deleted = Counter()
    lock = threading.Lock()

    def _delete(self, key):
        with self.lock:
            self.deleted[(self.name, key)] += 1
        time.sleep(0.02)
        super()._delete(key)


@pytest.mark.skipif("connection.vendor == 'sqlite'",
                    reason="SQLite's in-memory test database has table locks that refuse a "
                           "second writer instead of making it wait")
def test_two_scrubbers_at_once_remove_each_location_once(delayed, settings):
    for name in ("fast", "cheap"):
        settings.STORES[name]["BACKEND"] = f"{__name__}.CountingFileStore"
    settings.STORES = dict(settings.STORES)
    images = [pending_image()[0] for _ in range(8)]
    CountingFileStore.deleted.clear()
    start, errors, reports = threading.Barrier(2), [], []
    later = timezone.now() + LATER

    def scrubber():
        try:
            start.wait(10)
            reports.append(scrub_run(now=later))
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=scrubber) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert len(CountingFileStore.deleted) == 2 * len(images)
    assert set(CountingFileStore.deleted.values()) == {1}
    assert all(row(image).status == Image.Status.DELETED for image in images)
    assert sum(len(report.failed) for report in reports) == 0
    # Between them the two runs report each removal once.
    assert sum(len(report.removed) for report in reports) == 2 * len(images)
    assert sorted(i for report in reports for i in report.deleted_images) == sorted(
        image.id for image in images)


class HeldFileStore(FileStore):
    """A file store whose deletes wait for the test to release them."""

    started, release = threading.Event(), threading.Event()

    def _delete(self, key):
        self.started.set()
        assert self.release.wait(10)
        super()._delete(key)


@pytest.mark.skipif("connection.vendor == 'sqlite'",
                    reason="SQLite's in-memory test database has table locks that refuse a "
                           "second writer instead of making it wait")
def test_a_restore_during_a_removal_waits_and_then_refuses(delayed, settings):
    """The scrubber holds the location's row while its store deletes: the restore waits for
    it, finds nothing left to restore, and changes nothing; the image ends `deleted`."""
    settings.STORES["fast"]["BACKEND"] = f"{__name__}.HeldFileStore"
    settings.STORES = dict(settings.STORES)
    image, _ = pending_image(stores=("fast",))
    HeldFileStore.started.clear()
    HeldFileStore.release.clear()
    outcome = {}

    def run(name, function):
        try:
            outcome[name] = function()
        except Exception as exc:  # asserted below
            outcome[name] = exc
        finally:
            connection.close()

    scrubber = threading.Thread(target=run, args=(
        "scrub", lambda: scrub_run(now=timezone.now() + LATER, leftovers=False)))
    scrubber.start()
    assert HeldFileStore.started.wait(10)
    restore = threading.Thread(target=run, args=(
        "restore", lambda: image_restore(image_id=image.id)))
    restore.start()
    restore.join(0.5)
    assert restore.is_alive()  # waiting for the row the scrubber holds
    HeldFileStore.release.set()
    scrubber.join(20)
    restore.join(20)
    assert isinstance(outcome["restore"], Conflict)
    assert outcome["scrub"].deleted_images == [image.id]
    assert not (delayed["fast"] / image.id).exists()
    assert row(image).status == Image.Status.DELETED
    assert location_states(image) == [("fast", "deleted", True)]


def test_a_journaled_leftover_goes_and_foreign_objects_and_fresh_writes_stay(delayed):
    fast = delayed["fast"]
    interrupted = factories.image()  # queued again after its upload died half-way
    factories.journaled("fast", interrupted.id)
    (fast / interrupted.id).write_bytes(b"half an upload")
    age(fast / interrupted.id, 2 * HOUR)
    foreign = fast / "0d1c6f3e-58c4-4b0a-9d4e-9f6d0f3c2a11"  # written by someone else
    foreign.write_bytes(b"x")
    age(foreign, 2 * HOUR)
    orphan = factories.image()  # an image of ours, but this object is not in the journal
    (fast / orphan.id).write_bytes(b"not ours")
    age(fast / orphan.id, 2 * HOUR)
    in_flight = factories.image()
    Image.objects.filter(pk=in_flight.pk).update(status=Image.Status.SAVING,
                                                 updated_at=timezone.now())
    factories.journaled("fast", in_flight.id)
    (fast / in_flight.id).write_bytes(b"being written")
    age(fast / in_flight.id, 2 * HOUR)  # old data, but its upload is running
    recent = factories.image()
    factories.journaled("fast", recent.id, seconds_ago=60)
    (fast / recent.id).write_bytes(b"just written")  # e.g. a copy about to be recorded
    live, live_data = factories.active_image()
    age(fast / live.id, 2 * HOUR)
    report = leftovers_scrub(now=timezone.now())
    assert [loc for _, _, loc in report.leftovers] == [f"file://{fast}/{interrupted.id}"]
    assert sorted(os.listdir(fast)) == sorted([foreign.name, orphan.id, in_flight.id,
                                               recent.id, live.id])
    assert foreign.read_bytes() == b"x" and (fast / orphan.id).read_bytes() == b"not ours"
    assert (fast / live.id).read_bytes() == live_data
    assert Image.objects.get(pk=in_flight.pk).status == Image.Status.SAVING


def test_an_upload_silent_past_the_stale_time_is_reset_to_queued_and_its_data_removed(
        delayed):
    image = factories.image()
    Image.objects.filter(pk=image.pk).update(
        status=Image.Status.SAVING, updated_at=timezone.now() - timedelta(seconds=2 * HOUR))
    partial = delayed["fast"] / image.id
    factories.journaled("fast", image.id)
    partial.write_bytes(b"the worker died here")
    age(partial, 2 * HOUR)
    report = leftovers_scrub(now=timezone.now())
    assert report.reset_uploads == [image.id]
    image.refresh_from_db()
    assert (image.status, image.size) == (Image.Status.QUEUED, None)
    assert "interrupted" in ImageProperty.objects.get(image=image,
                                                      name=UPLOAD_ERROR_PROPERTY).value
    assert not partial.exists()
    # The image takes a new upload.
    services.image_upload(image=image, stream=io.BytesIO(b"again"))
    assert Image.objects.get(pk=image.pk).status == Image.Status.ACTIVE


def test_staged_data_of_a_failed_import_goes_and_of_a_waiting_import_stays(delayed):
    fast = delayed["fast"]
    failed = factories.image()  # its import failed: queued again, the staged data left
    waiting = factories.image()
    Image.objects.filter(pk=waiting.pk).update(status=Image.Status.UPLOADING)
    for image in (failed, waiting):
        factories.journaled("fast", f"staging-{image.id}", purpose="stage")
        (fast / f"staging-{image.id}").write_bytes(b"staged")
        age(fast / f"staging-{image.id}", 2 * HOUR)
    leftovers_scrub(now=timezone.now())
    assert os.listdir(fast) == [f"staging-{waiting.id}"]


def test_the_data_of_a_pending_delete_image_is_never_a_leftover(delayed):
    image, data = pending_image(stores=("fast",))
    age(delayed["fast"] / image.id, 2 * HOUR)
    report = leftovers_scrub(now=timezone.now())
    assert report.leftovers == []
    assert (delayed["fast"] / image.id).read_bytes() == data
    assert image_restore(image_id=image.id).status == Image.Status.ACTIVE


@pytest.mark.swift
def test_the_scrubber_removes_swift_data_and_a_restore_reads_it_back(
        delayed, portal_with_swift, settings):
    kept, kept_data = pending_image(stores=("swift",))
    scrubbed, _ = pending_image(stores=("swift",))
    image_restore(image_id=kept.id)
    report = scrub_run(now=timezone.now() + LATER)
    assert [image_id for image_id, _, _ in report.removed] == [scrubbed.id]
    assert sorted(portal_with_swift.keys()) == [kept.id]
    assert row(scrubbed).status == Image.Status.DELETED
    reader, _ = services.image_download(image=Image.objects.get(pk=kept.pk))
    with reader:
        assert b"".join(reader) == kept_data


def test_a_write_still_beating_is_kept_however_long_ago_it_started(delayed):
    image = factories.image()  # an active image's copy in progress: nothing else says so
    row = factories.journaled("cheap", image.id, seconds_ago=5 * HOUR)
    StoreWrite.objects.filter(pk=row.pk).update(touched_at=timezone.now())
    (delayed["cheap"] / image.id).write_bytes(b"copy under way")
    age(delayed["cheap"] / image.id, 2 * HOUR)
    report = leftovers_scrub(now=timezone.now())
    assert report.leftovers == []
    assert (delayed["cheap"] / image.id).read_bytes() == b"copy under way"


def test_a_long_write_moves_its_heartbeat_forward_as_it_streams(delayed, settings):
    settings.LEFTOVER_AGE = 3  # a heartbeat every second
    image = factories.image()

    class Slow(io.BytesIO):
        def read(self, n=-1):
            time.sleep(0.25)
            return super().read(min(n, 2**16))

    services.image_upload(image=image, stream=Slow(os.urandom(10 * 2**16)))
    row = StoreWrite.objects.get(image_id=image.id)
    assert row.touched_at is not None and row.started_at < row.touched_at <= row.closed_at


def test_an_object_older_than_its_journal_row_is_kept_and_the_row_closed_as_proving_nothing(
        delayed):
    image = factories.image()
    stray = delayed["fast"] / image.id
    stray.write_bytes(b"there before the portal's write")
    age(stray, 10 * HOUR)
    row = factories.journaled("fast", image.id, seconds_ago=2 * HOUR)
    report = leftovers_scrub(now=timezone.now())
    assert report.leftovers == [] and "older than" in report.kept_leftovers[0][2]
    assert stray.read_bytes() == b"there before the portal's write"
    row.refresh_from_db()
    assert row.outcome == StoreWrite.Outcome.REFUSED
    assert leftovers_scrub(now=timezone.now()).kept_leftovers == []  # not tried again
