"""The file store: a folder on a local or mounted disk.

It does its own file I/O (rather than Django's FileSystemStorage, which the generic
`storage` backend still offers) to write durably and behind the page cache, and to read
with a wide readahead.
"""
import ctypes
import ctypes.util
import os
import shutil
import threading
from datetime import datetime, timezone
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from stores.base import KEY_RE, Health, Store
from stores.exceptions import InvalidLocation, ObjectNotFound, StoreUnavailable
from stores.locations import Location

# Writeback of an upload is started every window, and what lies more than a window behind
# the start of writeback and outside the kept tail is evicted (see WriteBehind).
WRITE_BEHIND = 32 * 2**20
# How much of the end of each upload stays in the page cache by default: the part the first
# download finds there instead of on the disk (see cache_budget for the bound by free memory).
CACHE_TAIL = 128 * 2**20
# An upload keeps at most this share of the memory the kernel says is available.
MEMORY_SHARE = 8
PAGE = os.sysconf("SC_PAGE_SIZE")
FILE_MODE = 0o644


class FileStore(Store):
    """Objects are files named by their key directly under `root`; URIs are file:///root/key."""

    kind = "file"
    schemes = frozenset({"file", "filesystem"})
    # A folder lists in no order, and a stat is as cheap as a listing's entry.
    bulk_listing = "stat"

    def __init__(self, name, *, root, location_root=None, write_behind=True,
                 cache_tail=CACHE_TAIL, **kwargs):
        super().__init__(name, **kwargs)
        if not isinstance(write_behind, bool):
            raise ImproperlyConfigured(f"Store '{name}': write_behind must be true or false")
        if isinstance(cache_tail, bool) or not isinstance(cache_tail, int) or cache_tail < 0:
            raise ImproperlyConfigured(f"Store '{name}': cache_tail must be a number of bytes "
                                       ">= 0")
        self.write_behind = write_behind
        self.cache_tail = cache_tail
        self.root = Path(os.path.realpath(root))
        # The folder this store's locations name in the database, when the data is mounted
        # elsewhere (a Glance database audited from another machine): URIs are written and
        # read as location_root/key, the bytes are still read and written under root.
        self.location_root = Path(os.path.normpath(location_root)) if location_root else None
        if self.location_root is not None and not self.location_root.is_absolute():
            raise ImproperlyConfigured(f"Store '{name}': location_root must be an absolute "
                                       "path")

    def uri_for(self, key):
        return str(Location.for_file((self.location_root or self.root) / key))

    def _key_of(self, location):
        path = Path(location.path)
        if self.location_root is not None and Path(os.path.normpath(path.parent)) == \
                self.location_root and path.name not in ("", ".", ".."):
            # Named as it is on the other machine: never resolved here, so no escape.
            return path.name
        # A location is opened only if it names a file directly in this store's root: no
        # "..", no sub-folder, no symlinked escape (CVE-2014-9493 let users read server files).
        if path.parent != self.root and Path(os.path.realpath(path.parent)) != self.root:
            raise InvalidLocation(f"{location.path} is outside the root of store '{self.name}'",
                                  store=self.name)
        return path.name

    def _check_root(self):
        if not self.root.is_dir():
            raise StoreUnavailable(f"Store '{self.name}': root {self.root} does not exist "
                                   "or is not a folder", store=self.name)

    def _save(self, key, stream, undo):
        self._check_root()
        path = self.root / key
        # O_EXCL: the folder is shared (a Glance may write into it), so a file already there,
        # even one an earlier attempt left, is never truncated: its owner removes it.
        # A symlink planted under the key's name counts as a file (O_EXCL never follows one);
        # O_NOFOLLOW stays as a second guard.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW |
                         os.O_CLOEXEC, FILE_MODE)
        except FileExistsError:
            raise self._object_exists(key) from None
        undo.append(lambda: os.remove(path))
        try:
            behind = WriteBehind(fd, cache_budget(self.cache_tail)) if self.write_behind \
                else None
            written = 0
            while chunk := stream.read(self.chunk_size):
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view):]
                written += len(chunk)
                if behind:
                    behind.wrote(written)
            # The image turns active after this returns: its bytes must be on disk by then,
            # not only in the page cache, or a power cut loses an "active" image.
            os.fdatasync(fd)
            if behind:
                behind.done(written)
        finally:
            os.close(fd)
        return self.uri_for(key)

    def _open(self, key, *, offset, length):
        try:
            fh = open(self.root / key, "rb")
        except FileNotFoundError:
            raise ObjectNotFound(f"Object {key} not found in store '{self.name}'",
                                 store=self.name) from None
        # Doubles the kernel's readahead window: a cold image (evicted after its upload)
        # is then read at the disk's streaming speed, not a third of it.
        os.posix_fadvise(fh.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
        if offset:
            fh.seek(offset)
        return FileReader(fh, length=length, chunk_size=self.chunk_size)

    def _delete(self, key):
        # A missing root is an unmounted disk, not a removed object: the data may still be
        # there, so the delete fails (and the scrubber retries) instead of passing as done.
        self._check_root()
        os.remove(self.root / key)

    def _size(self, key):
        try:
            return os.stat(self.root / key).st_size
        except FileNotFoundError:
            raise ObjectNotFound(f"Object {key} not found in store '{self.name}'",
                                 store=self.name) from None

    def _listed_size(self, key):
        try:
            return os.stat(os.path.join(self.root, key)).st_size
        except FileNotFoundError:
            return None

    def _modified(self, key):
        try:
            mtime = os.stat(self.root / key).st_mtime
        except FileNotFoundError:
            raise ObjectNotFound(f"Object {key} not found in store '{self.name}'",
                                 store=self.name) from None
        return datetime.fromtimestamp(mtime, tz=timezone.utc)

    def _entries(self):
        self._check_root()
        with os.scandir(self.root) as entries:
            for entry in entries:
                if entry.is_file(follow_symlinks=False) and KEY_RE.match(entry.name):
                    yield entry.name, entry.stat(follow_symlinks=False).st_size

    def _health(self):
        if not self.root.exists():
            return Health(False, f"root {self.root} does not exist")
        if not self.root.is_dir():
            return Health(False, f"root {self.root} is not a folder")
        # Write a probe rather than trust os.access(): root passes every permission check,
        # yet a read-only mount or an immutable folder still refuses the write.
        probe = self.root / f".health-{os.getpid()}-{threading.get_ident()}"
        try:
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            return Health(False, f"root {self.root} is not writable: {exc.strerror}")
        free = shutil.disk_usage(self.root).free
        return Health(True, f"{free // 2**20} MiB free")

    def info(self):
        info = {"data_dir": str(self.root), "chunk_size": self.chunk_size,
                "thin_provisioning": False, "write_behind": self.write_behind,
                "cache_tail": self.cache_tail}
        if self.location_root is not None:
            info["location_root"] = str(self.location_root)
        return info


def mem_available():
    """Bytes the kernel reckons it can hand out without swapping (MemAvailable), or None."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def cache_budget(cache_tail, available=None):
    """Bytes at the end of an upload to leave in the page cache: `cache_tail`, but no more
    than a share of the available memory, so that a busy or small machine keeps less."""
    if available is None:
        available = mem_available()
    budget = cache_tail if available is None else min(cache_tail, available // MEMORY_SHARE)
    return budget - budget % PAGE


def _sync_file_range():
    """libc's sync_file_range, or None where there is none (then the flusher writes back)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        call = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    call.argtypes = (ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint)
    call.restype = ctypes.c_int
    return call


SYNC_FILE_RANGE = _sync_file_range()
SYNC_FILE_RANGE_WRITE = 2


class WriteBehind:
    """Writes an upload back as it goes and keeps only its last `keep` bytes in the page cache.

    Each page that a large upload leaves in the page cache is a fresh page the kernel has
    to find (on a VM that hands free memory back to its host, a fault on the host) and
    later reclaim; evicting what was written a window ago lets the next writes reuse those
    pages, which keeps a long upload as fast as its first megabytes. Keeping the tail costs
    `keep` fresh pages once per upload and spares the first download that much disk: an
    image no larger than `keep` stays whole, and what is kept is clean after fdatasync, so
    the kernel reclaims it like any other cache when memory runs short.

    Every window, writeback of the newest window starts without waiting and without
    evicting (sync_file_range WRITE); pages a window older than that have had their
    writeback started a window ago, and those outside the tail are evicted (DONTNEED drops
    clean pages and skips any still under writeback).
    """

    def __init__(self, fd, keep):
        self.fd = fd
        self.keep = keep
        self.started = 0  # writeback started for [0, started)
        self.dropped = 0  # evicted up to here

    def wrote(self, written):
        if written - self.started < WRITE_BEHIND:
            return
        if SYNC_FILE_RANGE is not None and \
                SYNC_FILE_RANGE(self.fd, self.started, written - self.started,
                                SYNC_FILE_RANGE_WRITE) != 0:
            raise OSError(ctypes.get_errno(), "sync_file_range failed")
        self.started = written
        limit = self.started - WRITE_BEHIND - self.keep
        limit -= limit % PAGE
        if limit - self.dropped >= WRITE_BEHIND:
            os.posix_fadvise(self.fd, self.dropped, limit - self.dropped,
                             os.POSIX_FADV_DONTNEED)
            self.dropped = limit

    def done(self, size):
        """After fdatasync: evict all but the tail, from the start, so that pages skipped
        while under writeback go too."""
        if not self.keep:  # length 0 is "to the end", the last partial page included
            os.posix_fadvise(self.fd, 0, 0, os.POSIX_FADV_DONTNEED)
            return
        limit = size - self.keep
        limit -= limit % PAGE
        if limit > 0:
            os.posix_fadvise(self.fd, 0, limit, os.POSIX_FADV_DONTNEED)


class FileReader:
    """A file opened at an offset, read up to `length` bytes.

    Exposes the open file as `file` and the byte count as `length`, so a WSGI server can
    send it with sendfile() instead of copying it through Python.
    """

    def __init__(self, fh, *, length=None, chunk_size):
        self.file = fh
        self.length = length
        self._remaining = length
        self._chunk_size = chunk_size

    def read(self, n=-1):
        if self._remaining is not None:
            n = self._remaining if n is None or n < 0 else min(n, self._remaining)
        data = self.file.read(n)
        if self._remaining is not None:
            self._remaining -= len(data)
        return data

    def __iter__(self):
        while chunk := self.read(self._chunk_size):
            yield chunk

    def close(self):
        self.file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
