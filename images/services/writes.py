"""The one way bytes go into a store, and the write journal that proves which objects are ours.

Stores are shared: a Glance, other tools and people write into the same folders, containers
and buckets. Before the first byte of any write (upload, stage, web-download, import, copy)
a StoreWrite row names the store, the key and where its segments go; it is committed at
once, so a process killed mid-write still leaves the evidence behind. An object with no such
row was written by someone else and is never removed or overwritten automatically.

`data_write()` is the data pipe: journal → quota → size cap → content inspection →
md5 + sha512 → store.save(), one pass over the stream, nothing buffered. When it raises,
nothing of this write is left in the store (or, if the store cannot remove it now, the open
journal row tells the scrubber exactly what to remove later).
"""
import logging
import os
import socket
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

from images.exceptions import (Conflict, Gone, Invalid, StoreFailed, TooLarge,
                               UnsupportedContent)
from images.inspection import ImageContentError, InspectingReader
from images.models import StoreWrite
from portal import metrics
from stores.exceptions import (ObjectExists, ObjectNotFound, SizeCapExceeded, SizeMismatch,
                               StoreError, StoreReadOnly)
from stores.streams import HashingReader, SizeLimitedReader

logger = logging.getLogger(__name__)

HASH_ALGO = "sha512"
Purpose = StoreWrite.Purpose
Outcome = StoreWrite.Outcome
HOST = socket.gethostname()[:255]
# How far a store's clock (a Swift proxy's, an S3 endpoint's) may run behind this host's
# when a partial object's write time is compared with its journal row's start.
CLOCK_SKEW = timedelta(minutes=5)
# Seconds between two heartbeats of a write in progress (at most; a third of leftover_age
# when that is shorter, so a running write always looks alive to the scrubber).
HEARTBEAT = 30
# Journal rows of the writes running in this process.
_RUNNING = set()


@dataclass(frozen=True)
class Written:
    """What one write put into a store: where, how many bytes, their digests."""

    uri: str
    key: str
    size: int
    md5: str
    digest: str
    virtual_size: int | None
    journal_id: int

    @property
    def sums(self):
        return (self.size, self.md5, self.digest)


# The journal ---------------------------------------------------------------------------

def journal_open(*, store, key, image_id, purpose):
    """Record a write about to start, and clear the way for it.

    An earlier write of the same key that never finished (an open row: a process killed, a
    store that could not remove its partial object) left this portal's own partial object
    of the same image: it is removed first, so the new write does not find it in its way.
    Conflict when that write's heartbeat is recent (it may still be running); StoreError
    when the removal fails (the store is down). Nothing was written then.
    """
    for row in journal_rows_open(store=store.name, key=key):
        if _writer_alive(row):
            raise Conflict(f"Another write of {key} into store '{store.name}' is in progress "
                           f"({row.purpose} on {row.host}, process {row.pid})")
        partial_remove(store, key, row)
    # Written outside any transaction block (the data flows run in autocommit), so the row
    # is committed before the first byte and survives a process killed mid-write.
    return StoreWrite.objects.create(
        store=store.name, key=key, segments=store.segment_prefix(key) or "",
        image_id=str(image_id), purpose=purpose, host=HOST, pid=os.getpid())


def _writer_alive(row):
    """Whether the write an open row records may still be running.

    Uploads and stages answer a request, one at a time per image (its status): an open row
    of theirs is a write that ended. A worker's writes (imports, web-downloads, copies) are
    not serialized so: copies have no lock, and a broker may hand a task out again while
    it still runs. Their row counts as running while its heartbeat is recent and, on this
    host, while its process lives (a killed worker's task is handed out again at once).
    """
    if row.ended_at is not None or row.purpose in (Purpose.UPLOAD, Purpose.STAGE):
        return False
    if row.host == HOST and row.pid == os.getpid():
        return row.pk in _RUNNING
    recent = (row.touched_at or row.started_at) > \
        timezone.now() - timedelta(seconds=3 * heartbeat_every())
    return recent and (row.host != HOST or _process_alive(row.pid))


def _process_alive(pid):
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def partial_remove(store, key, row):
    """Remove the partial object (and segments) that the open journal `row` wrote under
    `key`, then close the row. Returns False, and removes nothing, when the object there is
    older than the write that row records: it is not the portal's (the row is closed as
    refused). StoreError when the store fails; the row then stays open."""
    try:
        modified = store.modified(store.uri_for(key))
    except ObjectNotFound:
        modified = None
    if modified is not None and modified < row.started_at - CLOCK_SKEW:
        logger.warning("store %s: %s predates the write journalled at %s; left as it is",
                       store.name, key, row.started_at)
        journal_close(row.pk, Outcome.REFUSED)
        return False
    store.delete_partial(key)
    journal_close(row.pk, Outcome.REMOVED)
    return True


def journal_close(row_id, outcome):
    StoreWrite.objects.filter(pk=row_id, closed_at=None).update(
        closed_at=timezone.now(), outcome=outcome)


def journal_rows_open(*, store, key=None, started_before=None):
    rows = StoreWrite.objects.filter(store=store, closed_at=None)
    if key is not None:
        rows = rows.filter(key=key)
    if started_before is not None:
        rows = rows.filter(started_at__lt=started_before)
    return rows.order_by("started_at", "id")


def journal_close_all(*, store, key, outcome):
    """Close every open row of (store, key): the object is referenced, or removed."""
    StoreWrite.objects.filter(store=store, key=key, closed_at=None).update(
        closed_at=timezone.now(), outcome=outcome)


def journal_owned(*, store, keys):
    """{key: newest row} for the keys of `store` that this portal wrote (refusals aside)."""
    owned = {}
    keys = list(keys)
    # In batches: one IN (...) with every key of a large store passes the databases' limits.
    for start in range(0, len(keys), 500):
        rows = (StoreWrite.objects.filter(store=store, key__in=keys[start:start + 500])
                .exclude(outcome=Outcome.REFUSED).order_by("started_at", "id"))
        for row in rows:
            owned[row.key] = row
    return owned


# The pipe --------------------------------------------------------------------------------

def content_reader(image, stream):
    """`stream` inspected on its way: read() raises once the data shows it is not in the
    image's disk_format, or is unsafe (see images.inspection)."""
    return InspectingReader(stream, disk_format=image.disk_format,
                            container_format=image.container_format)


def store_error(exc, store):
    """A store's or a stream's exception as the API's error."""
    if isinstance(exc, ImageContentError):
        return UnsupportedContent(f"{exc}. Nothing was kept.")
    if isinstance(exc, SizeCapExceeded):
        return TooLarge(str(exc))
    if isinstance(exc, SizeMismatch):
        return Invalid(str(exc))
    if isinstance(exc, StoreReadOnly):
        return Gone(str(exc))
    if isinstance(exc, ObjectExists):
        return Conflict(f"Store '{store.name}' already holds an object of that name, which "
                        "this portal did not write; it was left as it is and nothing was "
                        "written.")
    if isinstance(exc, StoreError):
        return StoreFailed(f"{exc} Nothing was kept." if f"'{store.name}'" in str(exc)
                           else f"Store '{store.name}' failed: {exc}. Nothing was kept.")
    return exc


def data_write(*, image, store, stream, purpose, key=None, quota=None, expected_size=None,
               inspect=True, hashed=True, expect=None, progress=None):
    """Stream `stream` into `store` under `key` (the image id by default), once.

    Journal row first, then: `quota.reader` (when given) → size cap and `expected_size` →
    content inspection (`inspect`) → `progress(reader)` (when given) → md5 + the image's
    hash algorithm (unless not `hashed`: staged data is hashed when it is imported) → the
    driver. With `expect` = (size, md5, digest), bytes that hash to
    anything else are removed and refused (a copy that is not the image).

    Returns a Written; the caller records the location and closes the journal row with
    `written_recorded()`. Raises the API's errors; nothing is left in the store then.
    """
    key = key or str(image.id)
    algo = image.os_hash_algo or HASH_ALGO
    reader = stream if quota is None else quota.reader(stream)
    reader = SizeLimitedReader(reader, expected_size=expected_size, cap=settings.IMAGE_SIZE_CAP)
    inspected = content_reader(image, reader) if inspect else None
    reader = inspected or reader
    if progress is not None:
        reader = progress(reader)
    hashing = HashingReader(reader, ("md5", algo) if hashed else ())
    row, saved = None, False
    try:
        row = journal_open(store=store, key=key, image_id=image.id, purpose=purpose)
        _RUNNING.add(row.pk)
        if quota is not None:
            quota.start()
        uri = store.save(key, _Heartbeat(hashing, row.pk))
        saved = True
        digests = hashing.hexdigests()
        if inspected is not None:
            inspected.finish()
        written = Written(uri=uri, key=key, size=hashing.size, md5=digests.get("md5"),
                          digest=digests.get(algo),
                          virtual_size=inspected.virtual_size() if inspected else None,
                          journal_id=row.pk)
        if expect is not None and written.sums != tuple(expect):
            raise StoreFailed(f"The data written to store '{store.name}' does not match the "
                              f"image's checksums; nothing was kept")
        metrics.bytes_uploaded(store.name, purpose, written.size)
    except BaseException as exc:
        hashing.close()
        if row is not None:
            _abandon(store, key, row.pk, saved=saved, refused=isinstance(exc, ObjectExists))
        raise store_error(exc, store) from exc
    finally:
        if row is not None:
            _RUNNING.discard(row.pk)
    return written


def heartbeat_every():
    """Seconds between two heartbeats of a write in progress."""
    return max(1.0, min(HEARTBEAT, settings.LEFTOVER_AGE / 3))


class _Heartbeat:
    """Moves the journal row's `touched_at` forward every few seconds while the bytes flow:
    the scrubber takes a write silent for LEFTOVER_AGE as dead, not one that started long
    ago (a 50 GiB copy may well run for hours)."""

    def __init__(self, reader, row_id):
        self._reader, self._row_id = reader, row_id
        self._every = heartbeat_every()
        self._next = time.monotonic() + self._every

    def read(self, n=-1):
        if time.monotonic() >= self._next:
            StoreWrite.objects.filter(pk=self._row_id).update(touched_at=timezone.now())
            self._next = time.monotonic() + self._every
        return self._reader.read(n)


def written_recorded(written):
    """The object is now referenced (a location, or the staging property): close its row."""
    journal_close(written.journal_id, Outcome.RECORDED)


def written_remove(store, written):
    """Remove an object written but not to be kept (the database refused it afterwards).
    Needs no database to remove it: the database may be what failed."""
    _abandon(store, written.key, written.journal_id, saved=True)


def _abandon(store, key, row_id, *, saved, refused=False):
    """Deal with what a failed write left; the row stays open when that cannot be settled
    now, so the scrubber finishes it later.

    Refused: nothing was written, the object there is someone else's. Saved: the object is
    this write's, removed here. Failed before save() returned: the driver removed what it
    wrote (never what it did not), and the row closes once the key is seen empty.
    """
    try:
        if refused:
            outcome = Outcome.REFUSED
        elif saved:
            store.delete_partial(key)
            outcome = Outcome.REMOVED
        elif not store.exists(store.uri_for(key)):
            outcome = Outcome.REMOVED
        else:
            outcome = None
    except StoreError:
        logger.exception("store %s: partial object %s not settled; the scrubber will",
                         store.name, key)
        outcome = None
    try:
        if outcome is None:
            StoreWrite.objects.filter(pk=row_id).update(ended_at=timezone.now())
        else:
            journal_close(row_id, outcome)
    except DatabaseError:  # the row stays open; the scrubber closes it, finding nothing
        logger.exception("write journal: row %s not closed", row_id)
