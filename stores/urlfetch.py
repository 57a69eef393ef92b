"""Fetching URLs safe against SSRF: web-download imports and the http store's redirects.

`check_url()` decides whether a URL may be fetched and resolves its host once; `open_url()`
connects to one of the addresses that passed, never to the name again, so a DNS answer that
changes between the check and the connection (DNS rebinding) cannot steer the portal
elsewhere. Redirect targets pass the same check before anything connects to them
(`follow()`, which the http store uses too, from a first URL its operator configured).

The host and port lists follow Glance's `[import_filtering_opts]`
(openstack/glance: `glance/common/utils.py`, `validate_import_uri()` and
`normalize_hostname()`): an allow-list, when set, replaces the deny-list, and IP addresses are
accepted only in canonical form. Unlike Glance, loopback, private and other non-public
addresses are refused unless the operator lists the address in `allowed_hosts`.
"""
import ipaddress
import re
import socket
import time
from dataclasses import dataclass, field, fields
from urllib.parse import urljoin, urlsplit

import certifi
import urllib3
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from urllib3.exceptions import ConnectTimeoutError, HTTPError, ReadTimeoutError, SSLError

from stores.exceptions import StreamError

DEFAULT_PORTS = {"http": 80, "https": 443}

# The sitemaps.org limit for a URL to be fetched; signed object-store URLs fit well within it.
# RFC 9110 §4.1's 8000 octets is what HTTP software should cope with, not what a user needs.
MAX_URL_LENGTH = 2048

# 300, 304 and 305 do not name a new place to fetch from (RFC 9110 §15.4).
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

USER_AGENT = "image-portal web-download"

# RFC 3986 URIs are ASCII without spaces or controls. Browsers read a backslash as a slash
# (WHATWG URL) while Python reads it as part of the host, the kind of parser disagreement
# that SSRF filters are bypassed with.
_UNSAFE_CHARS = re.compile(r"[\x00-\x20\x7f\\]")

# RFC 1123 labels; "_" appears in real names (SRV-style, some intranets).
_HOST_NAME = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)(\.(?!-)[a-z0-9_-]{1,63}(?<!-))*\.?")

# A last label that reads as a number makes the host an IPv4 address to browsers (WHATWG
# URL, "ends in a number") and to inet_aton(), which also reads "127.1", "2130706433",
# "0x7f000001" and "0177.0.0.1" as 127.0.0.1.
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")

_NON_CANONICAL = "is not an IP address in canonical form (dotted IPv4, or IPv6 in brackets)"


def _networks(*pairs):
    return tuple((ipaddress.ip_network(net), reason) for net, reason in pairs)


# Addresses no import may reach, first match wins; from the IANA IPv4 and IPv6
# Special-Purpose Address Registries (RFC 6890) and the clouds' metadata services.
_BLOCKED = _networks(
    ("0.0.0.0/8", "unspecified"),            # RFC 1122; Linux connects 0.0.0.0 to itself
    ("10.0.0.0/8", "private"),               # RFC 1918
    ("100.64.0.0/10", "shared (carrier-grade NAT)"),  # RFC 6598; Alibaba metadata 100.100.100.200
    ("127.0.0.0/8", "loopback"),
    ("169.254.169.254/32", "link-local (cloud metadata service)"),  # AWS, GCP, Azure, OpenStack
    ("169.254.0.0/16", "link-local"),        # RFC 3927
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "reserved"),            # RFC 6890 protocol assignments; Oracle metadata .192
    ("192.0.2.0/24", "reserved"),            # RFC 5737 documentation
    ("192.88.99.0/24", "reserved"),          # RFC 7526 withdrawn 6to4 relays
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "reserved"),           # RFC 2544 benchmarking
    ("198.51.100.0/24", "reserved"),
    ("203.0.113.0/24", "reserved"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),             # RFC 1112, with 255.255.255.255 broadcast
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("fd00:ec2::254/128", "private (cloud metadata service)"),  # AWS IMDS over IPv6
    ("fc00::/7", "private"),                 # RFC 4193 unique local
    ("fe80::/10", "link-local"),
    ("fec0::/10", "private"),                # RFC 3879 deprecated site-local
    ("ff00::/8", "multicast"),
    ("2001::/23", "reserved"),               # RFC 2928 protocol assignments, Teredo 2001::/32
    ("2001:db8::/32", "reserved"),           # RFC 3849 documentation
    ("2002::/16", "reserved"),               # RFC 3056 6to4, deprecated by RFC 7526
    ("3fff::/20", "reserved"),               # RFC 9637 documentation
)
# RFC 6052 NAT64: on an IPv6-only network DNS64 answers public names with these, so they pass
# when the IPv4 address they carry does.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")   # RFC 4291: the rest of IPv6 is unassigned


class UrlRejected(ValueError):
    """The URL may not be fetched; the message says why, fit to show the user."""


class FetchFailed(StreamError):
    """The fetch was allowed but gave no body; `status` is the HTTP status of a non-2xx answer.

    Connection errors, TLS failures, timeouts, bodies cut short and downloads too slow (past
    the deadline, under the minimum rate) raise it with no status. A StreamError: raised from
    inside a store's save(), it passes through as it is once the store removed its part.
    """

    def __init__(self, message, *, status=None):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class _HostEntry:
    host: str
    port: int | None

    def matches(self, host, port):
        return self.host == host and self.port in (None, port)


def _host_entry(text):
    """Parse "host", "host:port", "[v6]:port" or a bare IPv6 address of a host list."""
    if not isinstance(text, str):
        raise ValueError(f"host entry {text!r} is not a string")
    text = text.strip().lower()
    host, port = text, None
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        if rest:
            if not rest.startswith(":") or not rest[1:].isdigit():
                raise ValueError(f"host entry {text!r} is not host or host:port")
            port = int(rest[1:])
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        if not port_text.isdigit():
            raise ValueError(f"host entry {text!r} is not host or host:port")
        port = int(port_text)
    try:
        host = str(ipaddress.ip_address(host))
    except ValueError:
        host = host.rstrip(".")
        if not _HOST_NAME.fullmatch(host):
            raise ValueError(f"host entry {text!r} is not host or host:port") from None
    if port is not None and not 0 < port < 65536:
        raise ValueError(f"host entry {text!r} has an invalid port")
    return _HostEntry(host, port)


def _sequence(name, value):
    # A bare string would be read one character at a time.
    if isinstance(value, str):
        raise ValueError(f"{name} must be a list, not a string")
    return tuple(value)


@dataclass(frozen=True)
class FetchPolicy:
    """What `web-download` may fetch.

    Empty `allowed_schemes` or `allowed_ports` mean no restriction (http and https are the
    only schemes there are). Host entries are names or IPs, optionally with ":port"; when
    `allowed_hosts` is non-empty only those hosts pass and `disallowed_hosts` is ignored, as
    in Glance. An `allowed_hosts` entry with a port also allows that port for that host, and
    listing an address is the only way a non-public address (loopback, private, …) passes.
    `ca_bundle` is a PEM file of trusted CAs for https; None means certifi's, as requests uses.

    `timeout` bounds each wait (to connect, for the answer, for the next bytes); a server
    sending a byte now and then never passes it, so the whole download must also end within
    `deadline` seconds and bring at least `min_rate` bytes/s, measured over each
    `min_rate_window` seconds (0: no floor). Both are checked as bytes arrive; a server that
    goes silent is cut by `timeout`.
    """

    allowed_schemes: tuple = ("http", "https")
    allowed_ports: tuple = (80, 443)
    allowed_hosts: tuple = ()
    disallowed_hosts: tuple = ()
    max_redirects: int = 5
    timeout: float = 30.0
    deadline: float = 43200.0        # 12 h: 50 GiB at 1.2 MB/s; below the tasks' time limit
    min_rate: int = 1024
    min_rate_window: float = 60.0
    ca_bundle: str | None = None
    _allow: tuple = field(init=False, repr=False, compare=False)
    _deny: tuple = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        schemes = tuple(s.lower() for s in _sequence("allowed_schemes", self.allowed_schemes))
        if unknown := sorted(set(schemes) - set(DEFAULT_PORTS)):
            raise ValueError(f"allowed_schemes: only http and https can be fetched, not {unknown}")
        ports = tuple(int(p) for p in _sequence("allowed_ports", self.allowed_ports))
        if any(not 0 < p < 65536 for p in ports):
            raise ValueError("allowed_ports: ports are 1 to 65535")
        if int(self.max_redirects) < 0 or float(self.timeout) <= 0:
            raise ValueError("max_redirects must be 0 or more and timeout more than 0")
        if float(self.deadline) <= 0 or float(self.min_rate_window) <= 0:
            raise ValueError("deadline and min_rate_window must be more than 0")
        if int(self.min_rate) < 0:
            raise ValueError("min_rate must be 0 or more")
        set_ = object.__setattr__   # frozen: normalised here, once
        set_(self, "allowed_schemes", schemes)
        set_(self, "allowed_ports", ports)
        set_(self, "allowed_hosts", _sequence("allowed_hosts", self.allowed_hosts))
        set_(self, "disallowed_hosts", _sequence("disallowed_hosts", self.disallowed_hosts))
        set_(self, "max_redirects", int(self.max_redirects))
        set_(self, "timeout", float(self.timeout))
        set_(self, "deadline", float(self.deadline))
        set_(self, "min_rate", int(self.min_rate))
        set_(self, "min_rate_window", float(self.min_rate_window))
        set_(self, "_allow", tuple(_host_entry(h) for h in self.allowed_hosts))
        set_(self, "_deny", tuple(_host_entry(h) for h in self.disallowed_hosts))

    @classmethod
    def from_settings(cls):
        """The policy in `settings.WEB_DOWNLOAD`; missing keys (or setting) take the defaults.

        Raises ImproperlyConfigured naming an unknown key or a bad value.
        """
        config = getattr(settings, "WEB_DOWNLOAD", None) or {}
        known = {f.name for f in fields(cls) if f.init}
        if unknown := sorted(set(config) - known):
            raise ImproperlyConfigured(f"WEB_DOWNLOAD has unknown keys {unknown}; "
                                       f"known: {sorted(known)}")
        try:
            return cls(**config)
        except (TypeError, ValueError) as exc:
            raise ImproperlyConfigured(f"WEB_DOWNLOAD: {exc}") from exc


@dataclass(frozen=True)
class Target:
    """A URL that passed the policy: where to connect and what to ask for."""

    scheme: str
    host: str                   # lower-case name, or an IP address in canonical form
    port: int
    path: str                   # path and query, as sent in the request line
    addresses: tuple            # the checked IP addresses to connect to, in resolver order

    @property
    def host_header(self):
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"

    @property
    def url(self):
        return f"{self.scheme}://{self.host_header}{self.path}"


def _embedded_ipv4(ip):
    """The IPv4 addresses an IPv6 address carries (mapped, compatible, NAT64, 6to4, Teredo)."""
    if ip.ipv4_mapped:
        return [ip.ipv4_mapped]
    if ip in _NAT64 or (int(ip) >> 32 == 0 and int(ip) > 1):   # or ::a.b.c.d, RFC 4291 2.5.5.1
        return [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)]
    if ip.sixtofour:
        return [ip.sixtofour]
    if ip.teredo:
        return list(ip.teredo)
    return []


def _blocked(ip):
    """Why `ip` may not be reached, as (kind, embedded IPv4 or None); None if it may."""
    if ip.version == 6:
        for inner in _embedded_ipv4(ip):
            if found := _blocked(inner):
                return found[0], inner
        if ip in _NAT64:
            return None
    for network, kind in _BLOCKED:
        if ip in network:
            return kind, None
    if ip.version == 6 and ip not in _GLOBAL_UNICAST:
        return "reserved", None
    # Python's registry of special-purpose blocks, for any the table above lacks.
    if not ip.is_global:
        return "reserved", None
    return None


def _split_netloc(netloc, scheme):
    """(host, port, is_ip) of an authority without userinfo; rejects non-canonical IPs."""
    if netloc.startswith("["):
        literal, bracket, rest = netloc[1:].partition("]")
        try:
            if not bracket or "%" in literal:   # a zone id names an interface of this machine
                raise ValueError
            host, is_ip = str(ipaddress.IPv6Address(literal)), True
        except ValueError:
            raise UrlRejected(f"host [{literal}] {_NON_CANONICAL}") from None
    else:
        if netloc.count(":") > 1:
            raise UrlRejected("an IPv6 address must be written in brackets")
        host, colon, port_text = netloc.partition(":")
        rest = colon + port_text
        host, is_ip = host.lower(), False
        if not host:
            raise UrlRejected("URL has no host")
        try:
            host, is_ip = str(ipaddress.IPv4Address(host)), True
        except ValueError:
            if _NUMERIC_LABEL.fullmatch(host.rstrip(".").rpartition(".")[2]):
                raise UrlRejected(f"host {host} {_NON_CANONICAL}") from None
            if not _HOST_NAME.fullmatch(host) or len(host) > 254:
                raise UrlRejected(f"host {host!r} is not a valid host name") from None
            host = host.rstrip(".")
    port_text = rest.removeprefix(":")
    valid_port = not port_text or (port_text.isdigit() and len(port_text) <= 5
                                   and 0 < int(port_text) < 65536)
    if (rest and not rest.startswith(":")) or not valid_port:
        raise UrlRejected(f"port {port_text or rest!r} is not valid")
    port = int(port_text) if port_text else DEFAULT_PORTS[scheme]
    return host, port, is_ip


def _resolve(host, port):
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise UrlRejected(f"host {host} could not be resolved") from None
    addresses = []
    for family, _, _, _, sockaddr in infos:
        if family in (socket.AF_INET, socket.AF_INET6):
            ip = ipaddress.ip_address(sockaddr[0].partition("%")[0])
            if ip not in addresses:
                addresses.append(ip)
    if not addresses:
        raise UrlRejected(f"host {host} could not be resolved")
    return addresses


def check_url(url, policy=None):
    """Check `url` against `policy` (default: from settings) and resolve its host, once.

    Returns a Target; raises UrlRejected. Nothing connects to the host, but a host name is
    looked up in DNS.
    """
    policy = policy or FetchPolicy.from_settings()
    if not isinstance(url, str) or not url:
        raise UrlRejected("URL is empty")
    if len(url) > MAX_URL_LENGTH:
        raise UrlRejected(f"URL is longer than {MAX_URL_LENGTH} characters")
    if not url.isascii() or _UNSAFE_CHARS.search(url):
        raise UrlRejected("URL may not contain spaces, control characters, backslashes or "
                          "non-ASCII characters (percent-encode them; punycode for names)")
    try:
        parts = urlsplit(url)
    except ValueError:
        # urlsplit() checks only what is in brackets, e.g. "[127.0.0.1]" or "[0x7f000001]".
        raise UrlRejected(f"the host in brackets {_NON_CANONICAL}") from None
    if parts.scheme not in DEFAULT_PORTS or (
            policy.allowed_schemes and parts.scheme not in policy.allowed_schemes):
        allowed = ", ".join(policy.allowed_schemes or DEFAULT_PORTS)
        raise UrlRejected(f"scheme {parts.scheme or '(none)'} is not allowed (allowed: {allowed})")
    # A fragment is never sent, and "#" and "@" are where parsers disagree about the host
    # ("http://a#@b/"); a user name or password would be stored with the import and sent.
    if "#" in url:
        raise UrlRejected("URL may not contain a fragment (#)")
    if "@" in parts.netloc:
        raise UrlRejected("URL may not contain a user name or password")
    host, port, is_ip = _split_netloc(parts.netloc, parts.scheme)

    allow, deny = policy._allow, policy._deny
    if allow:
        matched = [e for e in allow if e.matches(host, port)]
        if not matched:
            raise UrlRejected(f"host {host} (port {port}) is not in the allowed hosts")
        port_granted = any(e.port == port for e in matched)
    else:
        if any(e.matches(host, port) for e in deny):
            raise UrlRejected(f"host {host} is not allowed")
        port_granted = False
    if policy.allowed_ports and port not in policy.allowed_ports and not port_granted:
        raise UrlRejected(f"port {port} is not allowed")

    addresses = [ipaddress.ip_address(host)] if is_ip else _resolve(host, port)
    for ip in addresses:
        explicitly_allowed = any(e.matches(str(ip), port) for e in allow)
        if (found := _blocked(ip)) and not explicitly_allowed:
            kind, inner = found
            if is_ip:
                embeds = f" (it embeds {inner})" if inner else ""
                raise UrlRejected(f"address {ip} is {kind}{embeds}")
            # The address itself stays private: it describes the portal's network.
            raise UrlRejected(f"host {host} resolves to an address that is {kind}")
        if not allow and not is_ip and any(e.matches(str(ip), port) for e in deny):
            raise UrlRejected(f"host {host} resolves to an address that is not allowed")

    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, host, port, path, tuple(str(ip) for ip in addresses))


class Download:
    """The body of a fetched URL, read as it arrives; `length` is its Content-Length or None.

    `read(n)` returns n bytes (fewer only at the end), b"" at the end; a broken or short
    body raises FetchFailed, and so does a download past the policy's deadline (counted from
    `started`, a time.monotonic()) or under its minimum rate. Bytes are passed on as sent
    (no Content-Encoding decoding), so they match `length`.
    """

    def __init__(self, response, pool, target, policy=None, started=None):
        self._response = response
        self._pool = pool
        self.url = target.url
        self.host = target.host
        self.status = response.status
        self.length = _content_length(response.headers)
        self._policy = policy or FetchPolicy()
        self._started = time.monotonic() if started is None else started
        self._window_start, self._window_bytes = time.monotonic(), 0

    def read(self, n=-1):
        if self._response is None:
            raise ValueError("read from a closed download")
        want = None if n is None or n < 0 else n
        parts, size = [], 0
        # read1() returns what one receive brings: the pace is checked between receives,
        # where read(n) would wait for all n bytes however slowly they come.
        while want is None or size < want:
            try:
                part = self._response.read1(2**20 if want is None else want - size,
                                            decode_content=False)
            except ReadTimeoutError as exc:
                raise FetchFailed(f"{self.host} stopped sending data") from exc
            except (HTTPError, OSError) as exc:
                raise FetchFailed(f"the download from {self.host} broke off") from exc
            if not part:  # the end: complete, however slowly it came
                break
            self._pace(len(part))
            parts.append(part)
            size += len(part)
        return b"".join(parts)

    def _pace(self, received):
        """FetchFailed once the download passed its deadline or fell under its minimum rate."""
        policy, now = self._policy, time.monotonic()
        if now - self._started > policy.deadline:
            raise FetchFailed(f"the download from {self.host} did not finish within "
                              f"{policy.deadline:g} s")
        self._window_bytes += received
        elapsed = now - self._window_start
        if policy.min_rate and elapsed >= policy.min_rate_window:
            if self._window_bytes < policy.min_rate * elapsed:
                raise FetchFailed(f"{self.host} sent less than {policy.min_rate} bytes/s over "
                                  f"{policy.min_rate_window:g} s")
            self._window_start, self._window_bytes = now, 0

    def close(self):
        if self._response is not None:
            self._response.close()
            self._pool.close()
            self._response = self._pool = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def _content_length(headers):
    # A chunked body's Content-Length is to be ignored (RFC 9112 §6.3); differing repeated
    # values make it unusable.
    if "chunked" in headers.get("Transfer-Encoding", "").lower():
        return None
    values = {v.strip() for line in headers.getlist("Content-Length") for v in line.split(",")}
    if len(values) != 1 or not (value := values.pop()).isdigit():
        return None
    return int(value)


def _pool(target, address, policy):
    timeout = urllib3.Timeout(connect=policy.timeout, read=policy.timeout)
    if target.scheme == "https":
        # The socket goes to the checked address, TLS speaks to the name: SNI and the
        # certificate check use the URL's host, as a browser would.
        return urllib3.HTTPSConnectionPool(
            address, target.port, timeout=timeout, maxsize=1, retries=False,
            server_hostname=target.host, assert_hostname=target.host,
            cert_reqs="CERT_REQUIRED", ca_certs=policy.ca_bundle or certifi.where())
    return urllib3.HTTPConnectionPool(address, target.port, timeout=timeout, maxsize=1,
                                      retries=False)


def _request(target, policy, *, method="GET", headers=None, user_agent=USER_AGENT):
    """Send `method` to the target's first address that accepts a connection."""
    headers = {"Host": target.host_header, "User-Agent": user_agent, "Accept": "*/*",
               "Accept-Encoding": "identity", **(headers or {})}
    for address in target.addresses:
        pool = _pool(target, address, policy)
        try:
            response = pool.urlopen(method, target.path, headers=headers, retries=False,
                                    redirect=False, preload_content=False,
                                    decode_content=False, assert_same_host=False)
            return response, pool
        except ConnectTimeoutError:         # also refused and unreachable: try the next one
            pool.close()
        except SSLError as exc:
            pool.close()
            raise FetchFailed(f"TLS with {target.host} failed (is its certificate valid for "
                              f"that name and trusted?)") from exc
        except ReadTimeoutError as exc:
            pool.close()
            raise FetchFailed(f"{target.host} did not answer within {policy.timeout:g} s") \
                from exc
        except (HTTPError, OSError) as exc:
            pool.close()
            raise FetchFailed(f"the request to {target.host} failed") from exc
    raise FetchFailed(f"could not connect to {target.host}")


def open_url(url, policy=None):
    """Fetch `url` under `policy` (default: from settings), following checked redirects.

    Returns a Download to read and close. Raises UrlRejected when the URL or a redirect
    target fails the policy (before anything connects to it), FetchFailed when the fetch
    fails or ends in a non-2xx answer. Environment proxies are not used: the connection has
    to go to the address that was checked.
    """
    policy = policy or FetchPolicy.from_settings()
    started = time.monotonic()
    response, pool, target = follow(check_url(url, policy), policy)
    if not 200 <= response.status < 300:
        response.close()
        pool.close()
        raise FetchFailed(f"{target.host} answered {response.status}", status=response.status)
    return Download(response, pool, target, policy, started)


def follow(target, policy, *, method="GET", headers=None, credentials=None,
           user_agent=USER_AGENT):
    """Send `method` to `target`, then to each redirect target once it passed `policy`.

    Returns (response, pool, target) of the first answer that is not a redirect, to close
    both. `headers` go to every hop, `credentials` (an Authorization header) to `target`
    only: a redirect elsewhere must not learn them, as requests drops them. Raises UrlRejected when a redirect target fails the
    policy (before anything connects to it), FetchFailed past `policy.max_redirects`, for a
    redirect without a Location, or when a connection fails.
    """
    redirects = 0
    first_headers = {**(headers or {}), **(credentials or {})}
    while True:
        response, pool = _request(target, policy, method=method, user_agent=user_agent,
                                  headers=headers if redirects else first_headers)
        status = response.status
        if status not in REDIRECT_STATUSES:
            return response, pool, target
        location = response.headers.get("Location")
        response.close()
        pool.close()
        if not location:
            raise FetchFailed(f"{target.host} answered {status} without a Location",
                              status=status)
        if redirects == policy.max_redirects:
            raise FetchFailed(f"more than {policy.max_redirects} redirects", status=status)
        redirects += 1
        try:
            target = check_url(urljoin(target.url, location), policy)
        except UrlRejected as exc:
            raise UrlRejected(f"redirect rejected: {exc}") from None


def target_unchecked(url):
    """The Target of a URL an operator configured: its host resolved, no policy applied.

    Raises UrlRejected for a scheme other than http(s) or a host that does not resolve. For
    what the operator vouched for only; its redirects go through `follow()`.
    """
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port or DEFAULT_PORTS.get(parts.scheme)
    except (ValueError, KeyError):
        raise UrlRejected("URL is not a valid http(s) URL") from None
    if parts.scheme not in DEFAULT_PORTS or not host:
        raise UrlRejected("URL is not a valid http(s) URL")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    addresses = _resolve(host, port)
    return Target(parts.scheme, host, port, path, tuple(str(ip) for ip in addresses))
