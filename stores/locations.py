"""Location URIs, in the forms a Glance database holds: the one place that parses and writes them.

    file:///var/lib/glance/images/<id>             (also filesystem://)
    swift+config://<reference>/<container>/<id>
    swift+https://<user>:<key>@<auth host/path>/<container>/<id>   (legacy; also swift://, swift+http://)
    s3://<access>:<secret>@<host>/<bucket>/<id>    (also s3+http://, s3+https://)
    http(s)://[user:pass@]host/path?query          (read-only http store)
    storage://<store>/<key>                        (any other Django storage backend)
    rbd://..., cinder://..., vsphere://...         (read, kept as they are)

`str(location)` never contains credentials: URIs are written without them, and URIs read
from an older database are shown with them removed.
"""
from dataclasses import dataclass, field, replace
from urllib.parse import quote, unquote, urlsplit

from stores.exceptions import InvalidLocation

SWIFT_SCHEMES = {"swift", "swift+http", "swift+https", "swift+config"}
S3_SCHEMES = {"s3", "s3+http", "s3+https"}
HTTP_SCHEMES = {"http", "https"}
FILE_SCHEMES = {"file", "filesystem"}
OTHER_SCHEMES = {"rbd", "cinder", "vsphere", "storage"}


@dataclass(frozen=True)
class Location:
    """A parsed location URI.

    `host` is the Swift reference, the Swift auth address, the S3 host, the http host or the
    storage store name; `container` the Swift container or S3 bucket; `key` the object name
    (the image id for the stores of this portal); `path` the file path or http path.
    """

    scheme: str
    host: str = ""
    container: str = ""
    key: str = ""
    path: str = ""
    query: str = ""
    user: str = field(default="", repr=False, compare=False)
    secret: str = field(default="", repr=False, compare=False)

    @classmethod
    def parse(cls, uri):
        """Parse any URI of the forms above; raise InvalidLocation otherwise."""
        if not isinstance(uri, str) or "://" not in uri:
            raise InvalidLocation(f"Not a location URI: {uri!r}")
        scheme, rest = uri.split("://", 1)
        scheme = scheme.lower()
        if "\x00" in rest or any(c in rest for c in "\r\n"):
            raise InvalidLocation("Location URI contains control characters")
        if scheme in FILE_SCHEMES:
            return cls._parse_file(scheme, rest)
        if scheme in SWIFT_SCHEMES:
            return cls._parse_object_store(scheme, rest, auth_path=scheme != "swift+config")
        if scheme in S3_SCHEMES:
            return cls._parse_object_store(scheme, rest, auth_path=False)
        if scheme in HTTP_SCHEMES:
            parts = urlsplit(uri)
            if not parts.hostname:
                raise InvalidLocation(f"No host in {scheme} location")
            host = parts.netloc.rsplit("@", 1)[-1]
            return cls(scheme=scheme, host=host, path=parts.path or "/", query=parts.query,
                       user=unquote(parts.username or ""), secret=unquote(parts.password or ""))
        if scheme == "storage":
            store, _, key = rest.partition("/")
            if not store or not key:
                raise InvalidLocation("A storage location is storage://<store>/<key>")
            return cls(scheme=scheme, host=store, key=unquote(key))
        if scheme in OTHER_SCHEMES:
            return cls(scheme=scheme, path=rest)
        raise InvalidLocation(f"Unknown location scheme '{scheme}'")

    @classmethod
    def _parse_file(cls, scheme, rest):
        # file:///abs/path: the authority is empty; "file://host/path" is not a local file.
        if not rest.startswith("/"):
            raise InvalidLocation("A file location must be an absolute path (file:///...)")
        path = rest  # Glance writes file paths unquoted
        if "/../" in path + "/" or "/./" in path + "/":
            raise InvalidLocation("A file location may not contain '.' or '..' segments")
        return cls(scheme=scheme, path=path, key=path.rsplit("/", 1)[-1])

    @classmethod
    def _parse_object_store(cls, scheme, rest, *, auth_path):
        user = secret = ""
        if "@" in rest:
            # Secrets may hold "/" (S3) or ":" (swift account:user:key), so split from the
            # right on "@" and take the key after the last ":".
            creds, rest = rest.rsplit("@", 1)
            user, _, secret = creds.rpartition(":")
            if not user:
                user, secret = secret, ""
        segments = rest.split("/")
        if len(segments) < 3 or not all(segments[-2:]) or not segments[0]:
            raise InvalidLocation(f"A {scheme} location needs a host, a container and an object")
        container, key = segments[-2], unquote(segments[-1])
        host = "/".join(segments[:-2])
        if not auth_path and "/" in host:
            raise InvalidLocation(f"A {scheme} location is {scheme}://<host>/<container>/<object>")
        return cls(scheme=scheme, host=host, container=container, key=key,
                   user=unquote(user), secret=unquote(secret))

    @classmethod
    def for_file(cls, path):
        return cls(scheme="file", path=str(path), key=str(path).rsplit("/", 1)[-1])

    @classmethod
    def for_swift(cls, reference, container, key):
        return cls(scheme="swift+config", host=reference, container=container, key=key)

    @classmethod
    def for_s3(cls, host, bucket, key, *, secure):
        return cls(scheme="s3+https" if secure else "s3", host=host, container=bucket, key=key)

    @classmethod
    def for_storage(cls, store, key):
        return cls(scheme="storage", host=store, key=key)

    @property
    def has_credentials(self):
        return bool(self.user or self.secret)

    def without_credentials(self):
        return replace(self, user="", secret="")

    def __str__(self):
        if self.scheme in FILE_SCHEMES:
            return f"{self.scheme}://{self.path}"
        if self.scheme in SWIFT_SCHEMES or self.scheme in S3_SCHEMES:
            return f"{self.scheme}://{self.host}/{self.container}/{quote(self.key, safe='')}"
        if self.scheme in HTTP_SCHEMES:
            return f"{self.scheme}://{self.host}{self.path}" + (f"?{self.query}" if self.query else "")
        if self.scheme == "storage":
            return f"storage://{self.host}/{quote(self.key, safe='/')}"
        return f"{self.scheme}://{self.path}"


def redact(uri):
    """The URI without any credentials it holds, for display; unparseable URIs are hidden."""
    try:
        return str(Location.parse(uri))
    except InvalidLocation:
        return "<invalid location>"
