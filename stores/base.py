"""The Store base class: the invariants every driver keeps, around the I/O the drivers do."""
import logging
import re
from contextlib import nullcontext
from dataclasses import dataclass

from stores import priority
from stores.exceptions import (InvalidLocation, ObjectExists, ObjectNotFound, StoreError,
                               StoreReadOnly, StoreUnavailable, StreamError)
from stores.locations import Location
from stores.streams import HashingReader

logger = logging.getLogger(__name__)

# Keys are image ids (UUIDs) or "staging-<id>"-style names made by the portal: a plain
# charset keeps every backend's naming rules satisfied and rules out path tricks.
KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")


@dataclass(frozen=True)
class Listed:
    """One object as a store's listing gives it. `exact` says the size is the object's own;
    where it is not (a large object's manifest, a multipart upload, an empty entry that may
    be a manifest), only a request for the object itself tells its size."""

    key: str
    size: int | None
    exact: bool = True


@dataclass(frozen=True)
class Health:
    ok: bool
    reason: str = ""


class Store:
    """One configured store. Subclasses implement the `_save`, `_open`, ... methods.

    Stores are shared with a Glance and other tools: `save()` never overwrites an object,
    it raises ObjectExists instead. It reads its stream to EOF and returns the location URI;
    when anything fails half-way it removes what it wrote, and only that, before re-raising.
    """

    kind = ""
    read_only = False
    schemes = frozenset()
    # The largest object the backend can take as configured, when it has such a limit.
    max_object_size = None
    # How an audit reads this store in bulk: "sorted" (`listed()` pages through the objects
    # in key order, one request per page), "stat" (`listed_size()` reads a size locally,
    # with no request), or None (a request per object).
    bulk_listing = None

    def __init__(self, name, *, description="", weight=0, chunk_size=2**20):
        self.name = name
        self.description = description
        self.weight = weight
        self.chunk_size = int(chunk_size)

    def __repr__(self):
        return f"<{type(self).__name__} {self.name}>"

    # The public API ------------------------------------------------------------------

    def save(self, key, stream):
        """Store the bytes read from `stream` (until EOF) under `key`; return the location URI.

        Raises ObjectExists, and changes nothing, when an object named `key` (or one of the
        separate parts the driver would write for it) is already in the store.
        """
        self._check_writable(key)
        # What this save finished writing, as removals: a failed save undoes exactly these,
        # never a name that merely matches (an object of someone else's may be there).
        undo = []
        try:
            with priority.bulk() if HashingReader.crowded() else nullcontext():
                return self._save(key, stream, undo)
        except BaseException as exc:
            self._undo(key, undo)
            if isinstance(exc, (StoreError, StreamError)) or not isinstance(exc, Exception):
                raise
            raise self._translate(exc) from exc

    def delete_partial(self, key):
        """Remove the object this portal wrote under `key` and every segment of it.

        Only for objects the portal's write journal proves it wrote: it removes whatever is
        there under that name. An object already missing is not an error.
        """
        self._check_writable(key)
        self._call(self._delete_partial, key, missing_ok=True)

    def open(self, uri, *, offset=0, length=None):
        """Return a reader (`read(n)`, `close()`, iterable in chunks) of the object's bytes."""
        key = self.key_of(uri)
        try:
            return self._open(key, offset=offset, length=length)
        except (StoreError, StreamError):
            raise
        except Exception as exc:
            raise self._translate(exc) from exc

    def delete(self, uri):
        """Remove the object; an object already missing is not an error."""
        if self.read_only:
            raise StoreReadOnly(f"Store '{self.name}' is read-only", store=self.name)
        self._call(self._delete, self.key_of(uri), missing_ok=True)

    def exists(self, uri):
        try:
            self.size(uri)
        except ObjectNotFound:
            return False
        return True

    def size(self, uri):
        return self._call(self._size, self.key_of(uri))

    def modified(self, uri):
        """When the object was last written (an aware datetime): how old a leftover is."""
        return self._call(self._modified, self.key_of(uri))

    def keys(self):
        """Iterate over the keys of every object in the store (for orphan scans)."""
        return (key for key, _ in self.entries())

    def entries(self):
        """Iterate over (key, size) of every object in the store, the size as the listing
        gives it (no request per object), or None where the backend's listing has none."""
        return self._iterate(self._entries)

    def listed(self, *, marker=""):
        """Iterate over the objects after `marker` as Listed entries, in key order (code point
        order, which is UTF-8 byte order), a page of the backend's listing at a time."""
        return self._iterate(lambda: self._listed(marker))

    def listed_size(self, key):
        """The size of object `key` read without a request (a local stat), or None when it
        is not there."""
        return self._call(self._listed_size, key)

    def segment_prefix(self, key):
        """Where the separate parts of `key` would be written (Swift:
        "<container>_segments/<key>/"), or None for a store that writes none."""
        return None

    def segment_keys(self):
        """Iterate over (owner key, segment name) for every segment this store's saves write
        apart from their object (for orphan scans); nothing for a store that writes none."""
        return self._iterate(self._segment_keys)

    def dlo_owner(self, key):
        """The key of the Glance dynamic large object that `key` would be a segment of, when
        it is named like one (Swift: "<base>-00001"), else None."""
        return None

    def manifest_prefix(self, key):
        """The X-Object-Manifest ("<container>/<prefix>", unquoted) of object `key`, or None
        when it is not a dynamic large object manifest or is missing."""
        return self._call(self._manifest_prefix, key, missing_ok=True)

    def health(self):
        try:
            return self._health()
        except Exception as exc:  # a health check reports, it never raises
            return Health(False, str(self._translate(exc)))

    def owns(self, uri):
        """True when `uri` points into this store."""
        try:
            self.key_of(uri)
        except InvalidLocation:
            return False
        return True

    def key_of(self, uri):
        """The object key `uri` points at, or InvalidLocation if it is not in this store."""
        location = uri if isinstance(uri, Location) else Location.parse(uri)
        if location.scheme not in self.schemes:
            raise InvalidLocation(f"{location.scheme}:// is not a location of store "
                                  f"'{self.name}' ({self.kind})", store=self.name)
        key = self._key_of(location)
        if not KEY_RE.match(key):
            raise InvalidLocation(f"Invalid object name {key!r}", store=self.name)
        return key

    def uri_for(self, key):
        raise NotImplementedError

    def info(self):
        """Driver properties for /v2/info/stores/detail (no secrets)."""
        return {}

    # The invariants ----------------------------------------------------------------

    def _check_writable(self, key):
        if self.read_only:
            raise StoreReadOnly(f"Store '{self.name}' is read-only", store=self.name)
        if not KEY_RE.match(key):
            raise InvalidLocation(f"Invalid object key {key!r}", store=self.name)

    def _call(self, method, key, *, missing_ok=False):
        """`method(key)` with backend errors turned into StoreErrors (ObjectNotFound
        swallowed when `missing_ok`)."""
        try:
            return method(key)
        except Exception as exc:
            error = self._error(exc)
            if missing_ok and isinstance(error, ObjectNotFound):
                return None
            if error is exc:
                raise
            raise error from exc

    def _iterate(self, listing):
        """Iterate over `listing()`, backend errors turned into StoreErrors."""
        try:
            yield from listing()
        except StoreError:
            raise
        except Exception as exc:
            raise self._translate(exc) from exc

    def _undo(self, key, undo):
        """Run a failed save's removals, newest first; a removal that fails stops them (the
        store is down: the write journal tells the scrubber what is left)."""
        for remove in reversed(undo):
            try:
                remove()
            except Exception as exc:  # the original error matters more
                if isinstance(self._error(exc), ObjectNotFound):
                    continue
                logger.exception("store %s: could not remove what a failed save of %s wrote",
                                 self.name, key)
                return

    def _error(self, exc):
        return exc if isinstance(exc, StoreError) else self._translate(exc)

    def _object_exists(self, key, what=None):
        """The ObjectExists a driver raises for `key` (or for `what`, a part written for it)."""
        return ObjectExists(f"Store '{self.name}' already holds {what or key}; it was left as "
                            f"it is and nothing was written under {key}", store=self.name)

    # For the drivers ---------------------------------------------------------------

    def _save(self, key, stream, undo):
        """Write `key` from `stream`; return the location URI.

        Never overwrites: an object already named `key` raises ObjectExists (`_object_exists`).
        Each object the driver finishes writing is registered at once by appending a callable
        that removes it to `undo`: on failure the base class calls them, newest first.
        """
        raise NotImplementedError

    def _open(self, key, *, offset, length):
        raise NotImplementedError

    def _delete(self, key):
        raise NotImplementedError

    def _delete_partial(self, key):
        self._delete(key)

    def _size(self, key):
        raise NotImplementedError

    def _entries(self):
        raise NotImplementedError

    def _listed(self, marker):
        raise NotImplementedError

    def _listed_size(self, key):
        raise NotImplementedError

    def _segment_keys(self):
        return iter(())

    def _manifest_prefix(self, key):
        return None

    def _modified(self, key):
        raise NotImplementedError

    def _key_of(self, location):
        raise NotImplementedError

    def _health(self):
        return Health(True)

    def _translate(self, exc):
        """Turn a backend exception into a StoreError naming this store."""
        if isinstance(exc, FileNotFoundError):
            return ObjectNotFound(f"Object not found in store '{self.name}'", store=self.name)
        return StoreUnavailable(f"Store '{self.name}' failed: {exc}", store=self.name)


class ChunkReader:
    """A reader over an iterator of byte chunks, with the `read(n)` that consumers call."""

    def __init__(self, chunks, *, close=None):
        self._chunks = iter(chunks)
        self._buffer = b""
        self._close = close

    def read(self, n=-1):
        if n is None or n < 0:
            return self._read_all()
        while len(self._buffer) < n:
            chunk = next(self._chunks, b"")
            if not chunk:
                break
            self._buffer = chunk if not self._buffer else self._buffer + chunk
        out, self._buffer = self._buffer[:n], self._buffer[n:]
        return out

    def _read_all(self):
        out = self._buffer + b"".join(self._chunks)
        self._buffer = b""
        return out

    def __iter__(self):
        if self._buffer:
            yield self._buffer
            self._buffer = b""
        yield from self._chunks

    def close(self):
        if self._close:
            self._close()
            self._close = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
