"""The file store: a folder on a local or mounted disk.

It does its own file I/O (rather than Django's FileSystemStorage, which the generic
`storage` backend still offers) to write durably and behind the page cache, and to read
with a wide readahead.
"""
import os
import shutil
import threading
from datetime import datetime, timezone
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from stores.base import KEY_RE, Health, Store
from stores.exceptions import InvalidLocation, ObjectNotFound, StoreUnavailable
from stores.locations import Location

# Dirty pages are written back and evicted a window behind the upload (see _write_behind).
WRITE_BEHIND = 32 * 2**20
FILE_MODE = 0o644


class FileStore(Store):
    """Objects are files named by their key directly under `root`; URIs are file:///root/key."""

    kind = "file"
    schemes = frozenset({"file", "filesystem"})
    # A folder lists in no order, and a stat is as cheap as a listing's entry.
    bulk_listing = "stat"

    def __init__(self, name, *, root, location_root=None, write_behind=True, **kwargs):
        super().__init__(name, **kwargs)
        if not isinstance(write_behind, bool):
            raise ImproperlyConfigured(f"Store '{name}': write_behind must be true or false")
        self.write_behind = write_behind
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
            written = dropped = 0
            while chunk := stream.read(self.chunk_size):
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view):]
                written += len(chunk)
                if self.write_behind and written - dropped >= 2 * WRITE_BEHIND:
                    dropped = self._write_behind(fd, dropped, written)
            # The image turns active after this returns: its bytes must be on disk by then,
            # not only in the page cache, or a power cut loses an "active" image.
            os.fdatasync(fd)
            if self.write_behind:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
        return self.uri_for(key)

    @staticmethod
    def _write_behind(fd, dropped, written):
        """Start writeback of what was just written and evict what is already on disk.

        Each page that a large upload leaves in the page cache is a fresh page the kernel
        has to find (on a VM, often from the host) and later reclaim; evicting the pages
        written a window ago lets the next writes reuse them, which keeps a long upload
        as fast as its first megabytes. DONTNEED starts writeback of dirty pages without
        waiting and drops the clean ones, so the older window is gone by the next call.
        """
        os.posix_fadvise(fd, dropped, written - dropped, os.POSIX_FADV_DONTNEED)
        return written - WRITE_BEHIND

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
                "thin_provisioning": False, "write_behind": self.write_behind}
        if self.location_root is not None:
            info["location_root"] = str(self.location_root)
        return info


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
