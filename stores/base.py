"""The Store base class: the invariants every driver keeps, around the I/O the drivers do."""
import logging
import re
from dataclasses import dataclass

from stores.exceptions import (InvalidLocation, ObjectNotFound, StoreError, StoreReadOnly,
                               StoreUnavailable, StreamError)
from stores.locations import Location

logger = logging.getLogger(__name__)

# Keys are image ids (UUIDs) or "staging-<id>"-style names made by the portal: a plain
# charset keeps every backend's naming rules satisfied and rules out path tricks.
KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")


@dataclass(frozen=True)
class Health:
    ok: bool
    reason: str = ""


class Store:
    """One configured store. Subclasses implement the `_save`, `_open`, ... methods.

    `save()` reads its stream to EOF and returns the location URI; when anything fails
    half-way it removes what it wrote before re-raising, so a failed save leaves nothing.
    """

    kind = ""
    read_only = False
    schemes = frozenset()
    # The largest object the backend can take as configured, when it has such a limit.
    max_object_size = None

    def __init__(self, name, *, description="", weight=0, chunk_size=2**20):
        self.name = name
        self.description = description
        self.weight = weight
        self.chunk_size = int(chunk_size)

    def __repr__(self):
        return f"<{type(self).__name__} {self.name}>"

    # The public API ------------------------------------------------------------------

    def save(self, key, stream):
        """Store the bytes read from `stream` (until EOF) under `key`; return the location URI."""
        if self.read_only:
            raise StoreReadOnly(f"Store '{self.name}' is read-only", store=self.name)
        if not KEY_RE.match(key):
            raise InvalidLocation(f"Invalid object key {key!r}", store=self.name)
        try:
            return self._save(key, stream)
        except BaseException as exc:
            try:
                self._delete_partial(key)
            except (ObjectNotFound, FileNotFoundError):
                pass
            except Exception:  # the original error matters more; the scrubber retries
                logger.exception("store %s: could not remove partial object %s", self.name, key)
            if isinstance(exc, (StoreError, StreamError)) or not isinstance(exc, Exception):
                raise
            raise self._translate(exc) from exc

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
        key = self.key_of(uri)
        try:
            self._delete(key)
        except Exception as exc:
            error = exc if isinstance(exc, StoreError) else self._translate(exc)
            if isinstance(error, ObjectNotFound):
                return
            if error is exc:
                raise
            raise error from exc

    def exists(self, uri):
        try:
            self.size(uri)
        except ObjectNotFound:
            return False
        return True

    def size(self, uri):
        key = self.key_of(uri)
        try:
            return self._size(key)
        except StoreError:
            raise
        except Exception as exc:
            raise self._translate(exc) from exc

    def modified(self, uri):
        """When the object was last written (an aware datetime): how old a leftover is."""
        key = self.key_of(uri)
        try:
            return self._modified(key)
        except StoreError:
            raise
        except Exception as exc:
            raise self._translate(exc) from exc

    def keys(self):
        """Iterate over the keys of every object in the store (for orphan scans)."""
        try:
            yield from self._keys()
        except StoreError:
            raise
        except Exception as exc:
            raise self._translate(exc) from exc

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

    # For the drivers ---------------------------------------------------------------

    def _save(self, key, stream):
        raise NotImplementedError

    def _open(self, key, *, offset, length):
        raise NotImplementedError

    def _delete(self, key):
        raise NotImplementedError

    def _delete_partial(self, key):
        self._delete(key)

    def _size(self, key):
        raise NotImplementedError

    def _keys(self):
        raise NotImplementedError

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
