"""The read-only http store: images served by a web server, located by their URL."""
import dataclasses
from urllib.parse import unquote, urlsplit

import urllib3
from urllib3.exceptions import HTTPError

from stores import urlfetch
from stores.base import ChunkReader, Health, Store
from stores.exceptions import InvalidLocation, ObjectNotFound, StoreUnavailable
from stores.locations import HTTP_SCHEMES, Location

USER_AGENT = "image-portal http store"


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
        """The answer to `method` on `url`, after the redirects the web-download policy allows.

        The location's own URL is fetched as it is: the operator put it there (a location
        add, a Glance database) and may mean an internal mirror. Where it redirects to is the
        web server's choice, not the operator's, so each hop passes the web-download checks
        ([web_download]: no loopback, private, link-local or metadata address unless listed
        in allowed_hosts, at most max_redirects hops) before anything connects to it; a
        server that was taken over, or one that echoes a user's input into a Location,
        cannot make the portal fetch from its own network.
        """
        policy = dataclasses.replace(urlfetch.FetchPolicy.from_settings(), timeout=self.timeout)
        try:
            response, pool, _ = urlfetch.follow(urlfetch.target_unchecked(url), policy,
                                                method=method, headers=headers,
                                                credentials=_basic_auth(url),
                                                user_agent=USER_AGENT)
        except (urlfetch.UrlRejected, urlfetch.FetchFailed) as exc:
            raise StoreUnavailable(f"Store '{self.name}': {Location.parse(url)}: {exc}",
                                   store=self.name) from exc
        if response.status == 404:
            self._close(response, pool)
            raise ObjectNotFound(f"{Location.parse(url)} answered 404", store=self.name)
        if response.status >= 300:
            self._close(response, pool)
            raise StoreUnavailable(f"Store '{self.name}': {Location.parse(url)} answered "
                                   f"{response.status}", store=self.name)
        return response, pool

    @staticmethod
    def _close(response, pool):
        response.close()
        pool.close()

    def _open(self, key, *, offset, length):
        headers = {}
        if offset or length is not None:
            end = "" if length is None else str(offset + length - 1)
            headers["Range"] = f"bytes={offset}-{end}"
        response, pool = self._get(key, headers=headers)
        if headers and response.status != 206:
            self._close(response, pool)
            raise StoreUnavailable(f"Store '{self.name}': the server ignored a range request",
                                   store=self.name)

        def chunks():
            try:
                yield from response.stream(self.chunk_size, decode_content=False)
            except (HTTPError, OSError) as exc:
                raise StoreUnavailable(f"Store '{self.name}': the download broke off ({exc})",
                                       store=self.name) from exc

        return ChunkReader(chunks(), close=lambda: self._close(response, pool))

    def _size(self, key):
        response, pool = self._get(key, method="HEAD")
        self._close(response, pool)
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


def _basic_auth(url):
    """The Authorization header for the user name and password in `url`; {} without them."""
    parts = urlsplit(url)
    if parts.username is None:
        return {}
    credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
    return urllib3.util.make_headers(basic_auth=credentials)
