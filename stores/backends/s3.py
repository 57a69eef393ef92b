"""The S3 store: objects in one bucket of an S3 endpoint, through django-storages' S3Storage."""
import threading
from urllib.parse import urlsplit

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.core.exceptions import ImproperlyConfigured
from django.core.files import File
from storages.backends.s3 import S3Storage

from stores.base import ChunkReader, Health, Listed, Store
from stores.exceptions import InvalidLocation, ObjectNotFound, StoreError, StoreUnavailable
from stores.locations import Location

MiB = 2**20
# S3 refuses parts under 5 MiB (all but the last) and allows 10,000 parts per upload, so a
# stream of unknown size is cut in parts of chunk_size: 16 MiB allows images up to 156 GiB.
MIN_PART_SIZE = 5 * MiB
MAX_PARTS = 10_000
# An object name that KEY_RE can never produce, so the health probe never finds a real image.
HEALTH_PROBE = ".health-probe"
# A health check answers a status page: it must not wait out boto3's 60 s timeouts.
HEALTH_CONFIG = Config(connect_timeout=5, read_timeout=10,
                       retries={"mode": "standard", "total_max_attempts": 2})


class S3Store(Store):
    """Objects are named by their key in `bucket`; URIs are s3://host/bucket/key, no credentials.

    Uploads go through S3Storage.save(), which boto3 sends as a multipart upload of
    `chunk_size` parts, `max_concurrency` at a time. Reads stream GetObject's body.
    """

    kind = "s3"
    schemes = frozenset({"s3", "s3+http", "s3+https"})
    bulk_listing = "sorted"

    def __init__(self, name, *, bucket, endpoint_url=None, access_key=None, secret_key=None,
                 region=None, addressing_style="path", chunk_size=16 * MiB, max_concurrency=2,
                 **kwargs):
        super().__init__(name, chunk_size=chunk_size, **kwargs)
        if self.chunk_size < MIN_PART_SIZE:
            raise ImproperlyConfigured(f"Store '{name}': chunk_size must be at least "
                                       f"{MIN_PART_SIZE} bytes (S3's minimum part size)")
        if int(max_concurrency) < 1:
            raise ImproperlyConfigured(f"Store '{name}': max_concurrency must be at least 1")
        self.bucket = bucket
        self.endpoint_url = endpoint_url
        self.region = region
        self.max_concurrency = int(max_concurrency)
        if endpoint_url:
            parts = urlsplit(endpoint_url)
            self.host = parts.netloc.rsplit("@", 1)[-1]
            self.secure = parts.scheme == "https"
        else:
            self.host, self.secure = "s3.amazonaws.com", True
        transfer = TransferConfig(multipart_threshold=self.chunk_size,
                                  multipart_chunksize=self.chunk_size,
                                  max_concurrency=self.max_concurrency)
        # s3transfer reads a non-seekable stream ahead into memory, by default up to 10 parts;
        # as many as are being sent is enough to keep them all busy.
        transfer.max_in_memory_upload_chunks = self.max_concurrency
        # What decides where and how an image is written is pinned here, so project-wide
        # AWS_* settings (AWS_LOCATION, AWS_IS_GZIPPED, AWS_DEFAULT_ACL, ...) cannot change it.
        self.storage = S3Storage(
            bucket_name=bucket, endpoint_url=endpoint_url, access_key=access_key,
            secret_key=secret_key, security_token=None, session_profile=None,
            region_name=region, addressing_style=addressing_style, location="",
            file_overwrite=True, default_acl=None, querystring_auth=False, gzip=False,
            object_parameters={}, transfer_config=transfer)
        self._health_client = None
        self._bucket_ready = False
        self._lock = threading.Lock()

    @property
    def max_object_size(self):
        return self.chunk_size * MAX_PARTS

    @property
    def client(self):
        return self.storage.connection.meta.client

    def uri_for(self, key):
        return str(Location.for_s3(self.host, self.bucket, key, secure=self.secure))

    def _key_of(self, location):
        # Older Glance databases hold s3://access:secret@host/bucket/key: the bucket decides.
        if location.container != self.bucket:
            raise InvalidLocation(f"Bucket '{location.container}' is not the bucket of "
                                  f"store '{self.name}'", store=self.name)
        return location.key

    def info(self):
        return {"bucket": self.bucket, "endpoint": self.host, "region": self.region or "",
                "chunk_size": self.chunk_size, "max_concurrency": self.max_concurrency}

    def _ensure_bucket(self):
        if self._bucket_ready:
            return
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if _status(exc) != 404:
                raise
            params = {"Bucket": self.bucket}
            if self.region and self.region != "us-east-1":  # us-east-1 refuses its own name
                params["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
            try:
                self.client.create_bucket(**params)
            except ClientError as exc:
                if _code(exc) != "BucketAlreadyOwnedByYou":  # another thread was first
                    raise
        self._bucket_ready = True

    # Writing -------------------------------------------------------------------------

    def _save(self, key, stream, undo):
        self._ensure_bucket()
        # S3 would overwrite: an existing object is looked for first. A conditional write
        # (IfNoneMatch="*") would close the gap to the write, but Swift's S3 API refuses it
        # (PutObject: "NotImplemented: Conditional object PUTs are not supported";
        # CompleteMultipartUpload: "InvalidRequest"; Swift 2.30), and s3transfer does not
        # pass it on either.
        try:
            self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _status(exc) != 404:
                raise
        else:
            raise self._object_exists(key)
        upload = _UploadStream(stream)
        client = self.client
        # s3transfer aborts the multipart upload it started when the upload fails, unless
        # the endpoint went away first: then its parts stay, billed and invisible. The
        # uploads this save starts are recorded so that they, and only they, are aborted.
        hook = f"s3store-{id(upload)}"

        def started(parsed, **_):
            if parsed.get("Key") == key and parsed.get("UploadId"):
                undo.append(lambda: client.abort_multipart_upload(
                    Bucket=self.bucket, Key=key, UploadId=parsed["UploadId"]))

        client.meta.events.register("after-call.s3.CreateMultipartUpload", started,
                                    unique_id=hook)
        try:
            self.storage.save(key, File(upload, name=key))
        except ClientError as exc:
            if _code(exc) == "NoSuchBucket":  # deleted behind this store's back
                self._bucket_ready = False
                raise StoreUnavailable(f"Store '{self.name}': bucket {self.bucket} "
                                       "disappeared during the upload", store=self.name) from exc
            raise
        finally:
            client.meta.events.unregister("after-call.s3.CreateMultipartUpload",
                                          unique_id=hook)
        undo.append(lambda: client.delete_object(Bucket=self.bucket, Key=key))
        # The read that returns b"" is where a size-checking stream raises: a save that
        # never made it would store a truncated image as a complete one.
        if not upload.eof and upload.read(1):
            raise StoreUnavailable(f"Store '{self.name}': the upload of {key} ended before "
                                   "its stream did", store=self.name)
        return self.uri_for(key)

    # Reading -------------------------------------------------------------------------

    def _open(self, key, *, offset, length):
        if length == 0:
            self._size(key)  # still report a missing object
            return ChunkReader(())
        params = {"Bucket": self.bucket, "Key": key}
        if offset or length is not None:
            end = "" if length is None else offset + length - 1
            params["Range"] = f"bytes={offset}-{end}"
        # Not storage.open(): S3File downloads the whole object before the first read.
        try:
            body = self.client.get_object(**params)["Body"]
        except ClientError as exc:
            if _status(exc) == 416:  # offset at or past the end, as a file read there
                return ChunkReader(())
            raise
        chunks = self._iter_body(key, body)

        def close():
            chunks.close()
            body.close()  # a generator closed before its first chunk skips its finally

        return ChunkReader(chunks, close=close)

    def _iter_body(self, key, body):
        try:
            yield from body.iter_chunks(self.chunk_size)
        except Exception as exc:
            raise StoreUnavailable(f"Store '{self.name}': download of {key} was cut off: {exc}",
                                   store=self.name) from exc
        finally:
            body.close()

    def _size(self, key):
        return self.client.head_object(Bucket=self.bucket, Key=key)["ContentLength"]

    def _modified(self, key):
        return self.client.head_object(Bucket=self.bucket, Key=key)["LastModified"]

    def _listed(self, marker):
        for key, size, etag in self._objects(StartAfter=marker):
            # A multipart upload's ETag ("<md5 of the parts' md5s>-<parts>") tells that the
            # listed size may be the manifest's (Swift's S3 API keeps such an object as a
            # static large object); an empty entry may be a large object's manifest.
            yield Listed(key, size, exact=bool(size) and "-" not in etag)

    def _objects(self, **params):
        """(key, size, ETag) of every object, in key order; none when there is no bucket."""
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                      **params)
        try:
            for page in pages:
                for entry in page.get("Contents", ()):
                    yield entry["Key"], entry["Size"], entry.get("ETag", "")
        except ClientError as exc:
            if _code(exc) != "NoSuchBucket":  # created on first write: nothing stored yet
                raise

    def _entries(self):
        for key, size, _ in self._objects():
            yield key, size

    # Deleting ------------------------------------------------------------------------

    def _delete(self, key):
        self.storage.delete(key)

    def _delete_partial(self, key):
        try:
            self.storage.delete(key)
            # The multipart uploads of `key` that s3transfer could not abort (see _save).
            uploads = self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=key)
            for upload in uploads.get("Uploads", ()):
                if upload["Key"] == key:
                    self.client.abort_multipart_upload(Bucket=self.bucket, Key=key,
                                                       UploadId=upload["UploadId"])
        except ClientError as exc:
            if _status(exc) != 404:
                raise

    # Health and errors ---------------------------------------------------------------

    def _health(self):
        client = self._get_health_client()
        try:
            client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if _status(exc) == 404:
                return Health(True, f"bucket {self.bucket} is created on first write")
            return Health(False, str(self._translate(exc)))
        except BotoCoreError as exc:
            return Health(False, str(self._translate(exc)))
        # On Swift's S3 API a bucket HEAD is answered without the object servers; a HEAD of
        # a missing object reaches them (404 = they answered).
        try:
            client.head_object(Bucket=self.bucket, Key=HEALTH_PROBE)
        except ClientError as exc:
            if _status(exc) != 404:
                return Health(False, str(self._translate(exc)))
        except BotoCoreError as exc:
            return Health(False, str(self._translate(exc)))
        return Health(True)

    def _get_health_client(self):
        with self._lock:
            if self._health_client is None:
                session = boto3.session.Session(aws_access_key_id=self.storage.access_key,
                                                aws_secret_access_key=self.storage.secret_key)
                self._health_client = session.client(
                    "s3", endpoint_url=self.endpoint_url, region_name=self.region,
                    config=self.storage.client_config.merge(HEALTH_CONFIG))
            return self._health_client

    def _translate(self, exc):
        if isinstance(exc, StoreError):
            return exc
        if isinstance(exc, ClientError) and _status(exc) == 404:
            return ObjectNotFound(f"Object not found in store '{self.name}'", store=self.name)
        if isinstance(exc, (ClientError, BotoCoreError)):
            return StoreUnavailable(f"Store '{self.name}' failed: {exc}", store=self.name)
        return super()._translate(exc)


def _status(exc):
    return exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")


def _code(exc):
    return exc.response.get("Error", {}).get("Code", "")


class _UploadStream:
    """The store's input as the file S3Storage and s3transfer read: never seekable, full reads.

    s3transfer takes a read shorter than asked for as the end of the stream (it then sends
    what it has as the whole object, or as a last part): `read(n)` returns n bytes unless
    the stream has ended. `eof` tells whether the stream's own b"" was seen.
    """

    closed = False

    def __init__(self, stream):
        self._stream = stream
        self.eof = False

    def readable(self):
        return True

    def seekable(self):
        return False

    def read(self, n=-1):
        if self.eof:
            return b""
        if n is None or n < 0:
            parts = iter(lambda: self.read(MiB), b"")
            return b"".join(parts)
        parts, size = [], 0
        while size < n:
            chunk = self._stream.read(n - size)
            if not chunk:
                self.eof = True
                break
            parts.append(chunk)
            size += len(chunk)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def close(self):
        pass  # the caller owns the stream
