"""The Swift store: objects in one container of an OpenStack Swift account, via swiftclient."""
import json
import re
import threading
from datetime import datetime, timezone
from urllib.parse import unquote

from django.core.exceptions import ImproperlyConfigured
from requests.exceptions import RequestException
from swiftclient import ClientException, Connection
from swiftclient.utils import config_true_value

from stores.base import KEY_RE, ChunkReader, Health, Listed, Store
from stores.exceptions import InvalidLocation, ObjectNotFound, StoreError, StoreUnavailable
from stores.locations import Location

GiB = 2**30
# Swift refuses a single object over max_file_size (5 GiB + 2 bytes by default), so bigger
# images become Static Large Objects.
MAX_OBJECT_SIZE = 5 * GiB
# Swift's own default for the SLO limit, used when the cluster does not publish /info.
DEFAULT_MAX_MANIFEST_SEGMENTS = 1000
# An object name that KEY_RE can never produce, so the health probe never finds a real image.
HEALTH_PROBE = ".health-probe"
# glance_store's Swift driver writes an image over swift_store_large_object_size as a Dynamic
# Large Object: segments "%s-%05d" % (image id, n), n from 1, in the image's container, then a
# zero-byte manifest named by the id with X-Object-Manifest: <container>/<id>- (add()).
DLO_SEGMENT_RE = re.compile(r"^(?P<owner>.+)-[0-9]{5,}$")
# On a GET or HEAD of a large object's manifest: the manifest itself, not its segments.
MANIFEST_GET = "multipart-manifest=get"
# A health check answers a status page: it must not hang on a proxy that accepts and stalls.
HEALTH_TIMEOUT = 10
# Entries per container GET: the most a Swift proxy answers (CONTAINER_LISTING_LIMIT).
LISTING_PAGE = 10_000


class SwiftStore(Store):
    """Objects named by their key in `container`; URIs are swift+config://reference/container/key.

    An image up to `large_object_size` bytes is one plain object. A bigger one becomes a Static
    Large Object whose segments, `segment_size` bytes each, live in `<container>_segments`
    as `<key>/00000001`, `<key>/00000002`, ...
    """

    kind = "swift"
    schemes = frozenset({"swift", "swift+http", "swift+https", "swift+config"})
    bulk_listing = "sorted"

    def __init__(self, name, *, auth_url, user, key, container="glance", reference=None,
                 auth_version="1", large_object_size=MAX_OBJECT_SIZE, segment_size=GiB,
                 os_options=None, insecure=False, retries=0, **kwargs):
        super().__init__(name, **kwargs)
        self.auth_url = auth_url
        self.user = user
        self.key = key
        self.container = container
        self.segments_container = f"{container}_segments"
        self.reference = reference or name
        self.auth_version = str(auth_version)
        self.large_object_size = int(large_object_size)
        self.segment_size = int(segment_size)
        self.os_options = dict(os_options or {})
        self.insecure = bool(insecure)
        # 0 by default: an upload stream that was read cannot be replayed, and a retried read
        # would hold an outage back for ~30 s (swiftclient's backoff) before reporting it.
        self.retries = int(retries)
        for option in ("large_object_size", "segment_size"):
            value = getattr(self, option)
            if not 0 < value <= MAX_OBJECT_SIZE:
                raise ImproperlyConfigured(f"Store '{name}': {option} must be between 1 and "
                                           f"{MAX_OBJECT_SIZE} bytes (Swift's object size limit)")
        if "/" in container or not container:
            raise ImproperlyConfigured(f"Store '{name}': invalid container name {container!r}")
        # swiftclient's Connection holds one HTTP connection and its last response: it must
        # not be shared between threads.
        self._local = threading.local()
        self._ready_containers = set()
        self._max_segments = None

    def uri_for(self, key):
        return str(Location.for_swift(self.reference, self.container, key))

    def _key_of(self, location):
        if location.container != self.container:
            raise InvalidLocation(f"Container '{location.container}' is not the container of "
                                  f"store '{self.name}'", store=self.name)
        if location.scheme == "swift+config" and location.host != self.reference:
            raise InvalidLocation(f"Reference '{location.host}' is not the reference of "
                                  f"store '{self.name}'", store=self.name)
        return location.key

    def info(self):
        return {"container": self.container, "large_object_size": self.large_object_size,
                "large_object_chunk_size": self.segment_size}

    # Connections ---------------------------------------------------------------------

    def _connect(self, *, timeout=None):
        """A new Connection, starting from this thread's token so it need not authenticate."""
        current = getattr(self._local, "conn", None)
        url, token = (current.url, current.token) if current else (None, None)
        return Connection(authurl=self.auth_url, user=self.user, key=self.key,
                          auth_version=self.auth_version, os_options=dict(self.os_options),
                          insecure=self.insecure, retries=self.retries,
                          preauthurl=url if token else None, preauthtoken=token,
                          timeout=timeout)

    def _conn(self):
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        return conn

    def _ensure_container(self, container):
        if container in self._ready_containers:
            return
        conn = self._conn()
        try:
            conn.head_container(container)
        except ClientException as exc:
            if exc.http_status != 404:
                raise
            conn.put_container(container)
        self._ready_containers.add(container)

    # Writing -------------------------------------------------------------------------

    def _save(self, key, stream, undo):
        self._ensure_container(self.container)
        first = _Part(stream, self.large_object_size)
        etag = self._put_new(self.container, key, first, undo, owner=key)
        if first.full:
            # The size is not known in advance: only reading past the limit tells whether
            # this is a large object.
            more = stream.read(self.chunk_size)
            if more:
                self._save_large(key, stream, undo, etag=etag, pending=more)
        return self.uri_for(key)

    def _save_large(self, key, stream, undo, *, etag, pending):
        """Turn the object already written into segment 1, append the rest, write the manifest."""
        conn = self._conn()
        self._ensure_container(self.segments_container)
        max_segments = self._max_manifest_segments()
        first = self._segment_name(key, 1)
        # A COPY cannot be made conditional on its destination (Swift applies If-None-Match
        # to the source: 304), so the destination is looked at first. The gap is small, and
        # the first part under `key` already keeps other saves of this key away.
        if self._object_headers(self.segments_container, first) is not None:
            raise self._object_exists(key, f"segment {self.segments_container}/{first}")
        conn.copy_object(self.container, key, destination=f"/{self.segments_container}/{first}")
        undo.append(lambda: conn.delete_object(self.segments_container, first))
        manifest = [{"path": f"/{self.segments_container}/{first}", "etag": etag,
                     "size_bytes": self.large_object_size}]
        while pending:
            number = len(manifest) + 1
            if number > max_segments:
                raise StoreUnavailable(
                    f"Store '{self.name}': the image needs more than {max_segments} segments "
                    "(the cluster's SLO limit); raise segment_size", store=self.name)
            name = self._segment_name(key, number)
            part = _Part(stream, self.segment_size, pending=pending)
            etag = self._put_new(self.segments_container, name, part, undo, owner=key)
            manifest.append({"path": f"/{self.segments_container}/{name}", "etag": etag,
                             "size_bytes": part.size})
            pending = part.leftover or (stream.read(self.chunk_size) if part.full else b"")
        # Unconditional: it replaces the first part this save wrote under `key` (undo removes
        # it, whatever it holds, should this PUT fail after all).
        conn.put_object(self.container, key, contents=json.dumps(manifest),
                        query_string="multipart-manifest=put",
                        headers={"Content-Type": "application/octet-stream"})

    def _put_new(self, container, name, part, undo, *, owner):
        """PUT `part` as a new object (never over an existing one); return its ETag.

        Swift writes an object whole or not at all, so only a PUT that succeeded registers
        its removal in `undo`. If-None-Match: * makes the object servers refuse (412) an
        existing name before the body is sent.
        """
        conn = self._conn()
        try:
            etag = conn.put_object(container, name, contents=part, chunk_size=self.chunk_size,
                                   headers={"If-None-Match": "*"})
        except ClientException as exc:
            if exc.http_status == 412:
                what = None if name == owner else f"segment {container}/{name}"
                raise self._object_exists(owner, what) from exc
            if exc.http_status == 404:  # the container was deleted behind this store's back
                self._ready_containers.discard(container)
                raise StoreUnavailable(f"Store '{self.name}': container {container} "
                                       "disappeared during the upload", store=self.name) from exc
            raise
        undo.append(lambda: conn.delete_object(container, name))
        return etag

    def _segment_name(self, key, number):
        return f"{key}/{number:08d}"

    def _max_manifest_segments(self):
        if self._max_segments is None:
            try:
                slo = self._conn().get_capabilities().get("slo", {})
            except ClientException:  # /info can be disabled: assume Swift's default
                slo = {}
            self._max_segments = int(slo.get("max_manifest_segments",
                                             DEFAULT_MAX_MANIFEST_SEGMENTS))
        return self._max_segments

    # Reading -------------------------------------------------------------------------

    def _open(self, key, *, offset, length):
        if length == 0:
            self._size(key)  # still report a missing object
            return ChunkReader(())
        headers = {}
        if offset or length is not None:
            end = "" if length is None else offset + length - 1
            headers["Range"] = f"bytes={offset}-{end}"
        # A reader lives as long as its consumer keeps reading, and a swiftclient
        # Connection reads every response through its last one: each reader gets its own.
        conn = self._connect()
        try:
            _, body = conn.get_object(self.container, key, resp_chunk_size=self.chunk_size,
                                      headers=headers)
        except ClientException as exc:
            conn.close()
            if exc.http_status == 416:  # offset at or past the end, as a file read there
                return ChunkReader(())
            raise
        except BaseException:
            conn.close()
            raise
        chunks = self._iter_body(key, body, conn)

        def close():
            chunks.close()
            conn.close()  # a generator closed before its first chunk skips its finally

        return ChunkReader(chunks, close=close)

    def _iter_body(self, key, body, conn):
        try:
            yield from body
        except Exception as exc:
            # With retries=0 a connection cut mid-download surfaces as urllib3's raw
            # ProtocolError, which no caller would recognise as a store outage.
            raise StoreUnavailable(f"Store '{self.name}': download of {key} was cut off: {exc}",
                                   store=self.name) from exc
        finally:
            conn.close()

    def _size(self, key):
        return int(self._conn().head_object(self.container, key)["content-length"])

    def _modified(self, key):
        # x-timestamp: when the proxy accepted the PUT (or POST) that wrote the object.
        stamp = float(self._head(self.container, key)["x-timestamp"])
        return datetime.fromtimestamp(stamp, tz=timezone.utc)

    def _head(self, container, name):
        """The headers of the object itself, a large object's manifest included.

        A plain HEAD of a dynamic large object answers for its segments: 404 when their
        container is missing, although the manifest is there.
        """
        return self._conn().head_object(container, name, query_string=MANIFEST_GET)

    def _object_headers(self, container, name):
        """`_head()`, or None when the object is missing."""
        try:
            return self._head(container, name)
        except ClientException as exc:
            if exc.http_status == 404:
                return None
            raise

    def _entries(self):
        # A manifest is listed with its own size (0 for a Glance large object's).
        for entry in self._listing(self.container):
            yield entry["name"], entry["bytes"]

    def _listed(self, marker):
        for entry in self._listing(self.container, marker=marker, limit=LISTING_PAGE):
            size = entry.get("bytes")
            # A manifest is listed with its own size: a Glance large object's is 0 (nothing
            # in the listing tells it from an empty object), a static large object's carries
            # slo_etag (or swift_bytes on older clusters), and a symlink's is its own.
            exact = bool(size) and not ("slo_etag" in entry or "symlink_path" in entry
                                        or "swift_bytes" in entry.get("content_type", ""))
            yield Listed(entry["name"], size, exact)

    def _listing(self, container, prefix=None, marker="", limit=None):
        """The container's entries (all pages, in name order, after `marker`); none when it
        does not exist (yet)."""
        conn = self._conn()
        while True:
            try:
                _, page = conn.get_container(container, marker=marker, prefix=prefix,
                                             limit=limit)
            except ClientException as exc:
                if exc.http_status == 404:  # created on first write: nothing stored yet
                    return
                raise
            if not page:
                return
            yield from page
            marker = page[-1]["name"]

    # Large objects ---------------------------------------------------------------------

    def segment_prefix(self, key):
        return f"{self.segments_container}/{key}/"

    def _segment_keys(self):
        for entry in self._listing(self.segments_container):
            yield entry["name"].partition("/")[0], entry["name"]

    def dlo_owner(self, key):
        match = DLO_SEGMENT_RE.match(key)
        if match and KEY_RE.match(match["owner"]):
            return match["owner"]
        return None

    def _manifest_prefix(self, key):
        manifest = self._head(self.container, key).get("x-object-manifest")
        return unquote(manifest) if manifest is not None else None

    # Deleting ------------------------------------------------------------------------

    def _delete(self, key):
        self._delete_object(key)
        # Segments an interrupted save could not remove (the store was down) go too.
        self._delete_segments(key)

    def _delete_partial(self, key):
        try:
            self._delete_object(key)
        except ClientException as exc:
            if exc.http_status != 404:
                raise
        self._delete_segments(key)

    def _delete_object(self, key):
        conn = self._conn()
        headers = self._head(self.container, key)
        if "x-object-manifest" in headers:
            self._delete_dlo_segments(key, unquote(headers["x-object-manifest"]))
        if not config_true_value(headers.get("x-static-large-object")):
            conn.delete_object(self.container, key)
            return
        conn.delete_object(self.container, key, query_string="multipart-manifest=delete")
        # Swift answers 200 to a manifest delete even when a segment could not be deleted:
        # the outcome is in the body, which swiftclient drops. The manifest goes last, only
        # once every segment is gone, so a manifest still there means a failure.
        if self._object_headers(self.container, key) is not None:
            raise StoreUnavailable(f"Store '{self.name}': could not delete the segments of "
                                   f"{key}", store=self.name)

    def _delete_dlo_segments(self, key, manifest):
        """Remove the segments of Glance's dynamic large object `key` (the manifest stays).

        glance_store writes them as `<key>-00001`, `<key>-00002`, ... next to the manifest,
        which names them "<container>/<key>-". A manifest naming anything else points at
        objects this store cannot tell are the image's: nothing is removed then. Segments go
        before the manifest, so a delete cut off half-way is simply run again.
        """
        expected = f"{self.container}/{key}-"
        if manifest != expected:
            raise StoreError(f"Store '{self.name}': {key} is a dynamic large object whose "
                             f"segments are '{manifest}*', not '{expected}*'; nothing was "
                             "removed", store=self.name)
        listing = self._listing(self.container, prefix=f"{key}-")
        self._remove(self.container, (entry["name"] for entry in listing
                                      if self.dlo_owner(entry["name"]) == key))

    def _delete_segments(self, key):
        listing = self._listing(self.segments_container, prefix=f"{key}/")
        self._remove(self.segments_container, (entry["name"] for entry in listing))

    def _remove(self, container, names):
        """Delete each object named; one already gone is fine."""
        conn = self._conn()
        for name in names:
            try:
                conn.delete_object(container, name)
            except ClientException as exc:
                if exc.http_status != 404:
                    raise

    # Health and errors ---------------------------------------------------------------

    def _health(self):
        conn = self._connect(timeout=HEALTH_TIMEOUT)
        try:
            try:
                headers = conn.head_container(self.container)
            except ClientException as exc:
                if exc.http_status == 404:
                    return Health(True, f"container {self.container} is created on first write")
                raise
            # A container HEAD is answered by the container servers alone; probing a missing
            # object reaches the object servers, which hold the data (404 = they answered).
            try:
                conn.head_object(self.container, HEALTH_PROBE)
            except ClientException as exc:
                if exc.http_status != 404:
                    return Health(False, f"object servers: {exc.http_status} {exc.http_reason}")
            return Health(True, f"{headers.get('x-container-object-count', '?')} objects, "
                                f"{headers.get('x-container-bytes-used', '?')} bytes")
        except (ClientException, RequestException) as exc:
            return Health(False, str(self._translate(exc)))
        finally:
            conn.close()

    def _translate(self, exc):
        if isinstance(exc, StoreError):
            return exc
        if isinstance(exc, ClientException):
            if exc.http_status == 404:
                return ObjectNotFound(f"Object not found in store '{self.name}'", store=self.name)
            status = f": {exc.http_status} {exc.http_reason}" if exc.http_status else ""
            return StoreUnavailable(f"Store '{self.name}' failed: {exc.msg}{status}",
                                    store=self.name)
        if isinstance(exc, RequestException):
            return StoreUnavailable(f"Store '{self.name}' is unreachable: {exc}", store=self.name)
        return super()._translate(exc)


class _Part:
    """Reads at most `limit` bytes of a stream, starting with bytes already read from it.

    `full` tells whether the limit was reached; `leftover` holds the `pending` bytes that did
    not fit, which belong to the next part.
    """

    def __init__(self, stream, limit, *, pending=b""):
        self._stream = stream
        self._remaining = limit
        self._pending = pending
        self.size = 0

    @property
    def full(self):
        return self._remaining == 0

    @property
    def leftover(self):
        return self._pending

    def read(self, n=-1):
        if self._remaining == 0:
            return b""
        n = self._remaining if n is None or n < 0 else min(n, self._remaining)
        if self._pending:
            chunk, self._pending = self._pending[:n], self._pending[n:]
        else:
            chunk = self._stream.read(n)
        self._remaining -= len(chunk)
        self.size += len(chunk)
        return chunk
