"""The read-only http store: images served by a web server, located by their URL."""
import requests

from stores.base import ChunkReader, Health, Store
from stores.exceptions import InvalidLocation, ObjectNotFound, StoreUnavailable
from stores.locations import HTTP_SCHEMES, Location


class HttpStore(Store):
    """Reads http(s) locations (optionally only those under `url_prefix`); never writes.

    As in Glance, an http location is the URL itself: it arrives through a location add by
    an operator, not through an upload.
    """

    kind = "http"
    read_only = True
    schemes = frozenset(HTTP_SCHEMES)

    def __init__(self, name, *, url_prefix=None, timeout=30, **kwargs):
        super().__init__(name, **kwargs)
        self.url_prefix = url_prefix
        self.timeout = timeout

    def key_of(self, uri):
        # The key of an http location is its whole URL, credentials included: they are
        # needed to fetch it, and only ever shown redacted (Location.__str__).
        raw = uri if isinstance(uri, str) else None
        location = Location.parse(uri) if raw else uri
        if location.scheme not in self.schemes:
            raise InvalidLocation(f"{location.scheme}:// is not a location of store "
                                  f"'{self.name}' (http)", store=self.name)
        if self.url_prefix and not str(location).startswith(self.url_prefix):
            raise InvalidLocation(f"{location} is not under {self.url_prefix}", store=self.name)
        return raw or str(location)

    def uri_for(self, key):
        return key

    def _get(self, url, *, headers=None, method="GET"):
        try:
            response = requests.request(method, url, headers=headers, stream=True,
                                        timeout=self.timeout, allow_redirects=True)
        except requests.RequestException as exc:
            raise StoreUnavailable(f"Store '{self.name}': {exc}", store=self.name) from exc
        if response.status_code == 404:
            response.close()
            raise ObjectNotFound(f"{Location.parse(url)} answered 404", store=self.name)
        if response.status_code >= 400:
            response.close()
            raise StoreUnavailable(f"Store '{self.name}': {Location.parse(url)} answered "
                                   f"{response.status_code}", store=self.name)
        return response

    def _open(self, key, *, offset, length):
        headers = {}
        if offset or length is not None:
            end = "" if length is None else str(offset + length - 1)
            headers["Range"] = f"bytes={offset}-{end}"
        response = self._get(key, headers=headers)
        if headers and response.status_code != 206:
            response.close()
            raise StoreUnavailable(f"Store '{self.name}': the server ignored a range request",
                                   store=self.name)

        def chunks():
            try:
                yield from response.iter_content(self.chunk_size)
            except requests.RequestException as exc:
                raise StoreUnavailable(f"Store '{self.name}': {exc}", store=self.name) from exc

        return ChunkReader(chunks(), close=response.close)

    def _size(self, key):
        response = self._get(key, method="HEAD")
        response.close()
        if "Content-Length" not in response.headers:
            raise StoreUnavailable(f"Store '{self.name}': no Content-Length for "
                                   f"{Location.parse(key)}", store=self.name)
        return int(response.headers["Content-Length"])

    def _entries(self):
        return iter(())  # a web server cannot be listed: an http store has no orphans

    def _health(self):
        return Health(True, "read-only")

    def info(self):
        return {}
