"""Fetching a web-download URL: what is refused before any connection, and what streams.

The servers are real and local; each counts the connections it accepts, so a refusal is
proven by a count of zero, not by what the code says it did.
"""
import contextlib
import http.client
import os
import socket
import ssl
import sysconfig
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import tomllib
from django.core.exceptions import ImproperlyConfigured

from stores.urlfetch import FetchFailed, FetchPolicy, UrlRejected, check_url, open_url
from stores import config

PAYLOAD = os.urandom(3 * 2**20 + 17)     # several reads and an odd tail
CHUNK = 64 * 2**10

# Python's own test certificates: "localhost" signed by a test CA, valid until 2037.
CERTDATA = Path(sysconfig.get_paths()["stdlib"]) / "test" / "certdata"


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/blob":
            self.answer(200, PAYLOAD)
        elif url.path == "/redirect":
            self.answer(302, b"", Location=query["to"])
        elif url.path.startswith("/chain/"):
            left = int(url.path.rpartition("/")[2])
            if left:
                self.answer(302, b"", Location=f"/chain/{left - 1}")
            else:
                self.answer(200, b"end of chain")
        elif url.path == "/host":
            self.answer(200, self.headers["Host"].encode())
        elif url.path == "/whoami":
            self.answer(200, self.server.server_address[0].encode())
        elif url.path == "/short":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"only ten b")         # and the connection closes
        elif url.path == "/no-length":
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"until the connection closes")
        elif url.path == "/gated":
            # Half the body, then nothing until the test opens the gate.
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            half = len(PAYLOAD) // 2
            self.wfile.write(PAYLOAD[:half])
            self.wfile.flush()
            self.server.gate.wait(timeout=3)
            self.wfile.write(PAYLOAD[half:])
        elif url.path == "/slow":
            self.server.gate.wait(timeout=3)
            self.answer(200, b"late")
        elif url.path == "/trickle":
            # A byte every 0.1 s, never a pause long enough for a read timeout.
            self.dribble(1, 0.1)
        elif url.path == "/steady":
            # 8 KiB every 0.05 s: a fair rate, but a body that never ends.
            self.dribble(8192, 0.05)
        elif url.path == "/probe":
            self.answer(200, b"")
        else:
            self.answer(404, b"no such thing")

    def answer(self, status, body, **headers):
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def dribble(self, size, every):
        """Send `size` bytes every `every` seconds (for at most 20 s) of a large body."""
        self.send_response(200)
        self.send_header("Content-Length", str(2**30))
        self.end_headers()
        deadline = time.monotonic() + 20
        with contextlib.suppress(OSError):
            while time.monotonic() < deadline and not self.server.gate.wait(every):
                self.wfile.write(b"x" * size)
                self.wfile.flush()

    def log_message(self, *args):
        pass


class CountingServer(ThreadingHTTPServer):
    """An HTTP server that counts the connections it accepts."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, address):
        super().__init__(address, Handler)
        self.accepted = 0
        self.gate = threading.Event()

    def get_request(self):
        request = super().get_request()
        self.accepted += 1
        return request


@contextlib.contextmanager
def serving(host, port=0, *, tls=None):
    server = CountingServer((host, port))
    if tls:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.gate.set()
        server.shutdown()
        server.server_close()


def bindable(host):
    with contextlib.suppress(OSError), socket.socket() as sock:
        sock.bind((host, 0))
        return True
    return False


@pytest.fixture
def origin():
    with serving("127.0.0.1") as server:
        yield server


@pytest.fixture
def elsewhere():
    """A second server, on another loopback address (all of 127/8 is loopback on Linux)."""
    if not bindable("127.0.0.2"):
        pytest.skip("127.0.0.2 cannot be bound here")
    with serving("127.0.0.2") as server:
        yield server


@pytest.fixture
def resolver(monkeypatch):
    """Names that resolve to chosen addresses; every other name goes to the real resolver.

    No DNS server here answers a name with several addresses or a public one, and
    /etc/hosts is not ours to edit; this stands in for one. Connections stay real.
    """
    names = {}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in names:
            return [info for address in names[host] for info in real(address, port, *args,
                                                                      **kwargs)]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return names


def connections_seen(server):
    """How many connections `server` accepted, made certain by one more (not counted)."""
    # The server accepts in arrival order on one thread: once the probe is answered, every
    # earlier connection has been accepted and counted.
    host, port = server.server_address
    probe = http.client.HTTPConnection(host, port, timeout=5)
    try:
        probe.request("GET", "/probe")
        probe.getresponse().read()
    finally:
        probe.close()
    return server.accepted - 1


def policy(**options):
    return FetchPolicy(timeout=5, **options)


def any_port(**options):
    """The default policy but for ports, so that the servers' ports are not why a URL fails."""
    return policy(allowed_ports=[], **options)


def fetch(url, fetch_policy, chunk=CHUNK):
    with open_url(url, fetch_policy) as download:
        parts = []
        while part := download.read(chunk):
            assert len(part) <= chunk
            parts.append(part)
        return b"".join(parts), download.length


def rejection(url, fetch_policy):
    """The reason check_url() gives, after checking that open_url() refuses alike."""
    with pytest.raises(UrlRejected) as checked:
        check_url(url, fetch_policy)
    with pytest.raises(UrlRejected) as opened:
        open_url(url, fetch_policy)
    assert str(opened.value) == str(checked.value)
    return str(checked.value)


# What passes, and what a Target holds

def test_a_public_address_passes_with_its_parts():
    target = check_url("https://8.8.8.8/images/x.qcow2?sig=1", policy())
    assert (target.scheme, target.host, target.port) == ("https", "8.8.8.8", 443)
    assert target.path == "/images/x.qcow2?sig=1"
    assert target.addresses == ("8.8.8.8",)
    assert target.host_header == "8.8.8.8"


def test_a_url_without_a_port_is_checked_with_the_port_of_its_scheme():
    assert check_url("http://8.8.8.8/", policy()).port == 80
    assert "port 80 is not allowed" in rejection("http://8.8.8.8/", policy(allowed_ports=[443]))


def test_ipv6_nat64_address_of_a_public_ipv4_address_passes():
    # DNS64 answers public names with these on IPv6-only networks.
    assert check_url("http://[64:ff9b::8.8.8.8]/", policy()).addresses == ("64:ff9b::808:808",)


# Non-public addresses: refused by the default policy, before any connection

@pytest.mark.parametrize("url, reason", [
    ("http://127.0.0.1:{port}/blob", "address 127.0.0.1 is loopback"),
    ("http://127.0.0.2:{port}/blob", "address 127.0.0.2 is loopback"),
    ("http://0.0.0.0:{port}/blob", "address 0.0.0.0 is unspecified"),
    ("http://10.1.2.3/", "address 10.1.2.3 is private"),
    ("http://172.16.5.4/", "address 172.16.5.4 is private"),
    ("http://192.168.1.1/", "address 192.168.1.1 is private"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is link-local (cloud metadata"),
    ("http://169.254.1.1/", "address 169.254.1.1 is link-local"),
    ("http://100.64.0.1/", "address 100.64.0.1 is shared"),
    ("http://224.0.0.1/", "address 224.0.0.1 is multicast"),
    ("http://240.0.0.1/", "address 240.0.0.1 is reserved"),
    ("http://255.255.255.255/", "is reserved"),
    ("http://192.0.0.192/", "is reserved"),             # Oracle Cloud's metadata service
    ("http://[::1]:{port}/blob", "address ::1 is loopback"),
    ("http://[::]:{port}/blob", "address :: is unspecified"),
    ("http://[fe80::1]/", "is link-local"),
    ("http://[fd00:ec2::254]/", "is private (cloud metadata service)"),   # AWS over IPv6
    ("http://[fc00::1]/", "is private"),
    ("http://[ff02::1]/", "is multicast"),
    ("http://[::ffff:127.0.0.1]:{port}/blob", "is loopback (it embeds 127.0.0.1)"),
    ("http://[::ffff:7f00:1]:{port}/blob", "is loopback (it embeds 127.0.0.1)"),
    ("http://[::127.0.0.1]:{port}/blob", "is loopback (it embeds 127.0.0.1)"),
    ("http://[::ffff:169.254.169.254]/", "is link-local (cloud metadata service) (it embeds"),
    ("http://[64:ff9b::a00:1]/", "is private (it embeds 10.0.0.1)"),             # NAT64
    ("http://[2002:7f00:1::]/", "is loopback (it embeds 127.0.0.1)"),             # 6to4
    ("http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", "is reserved"),            # Teredo
])
def test_non_public_addresses_are_refused_without_connecting(origin, url, reason):
    url = url.format(port=origin.server_port)
    assert reason in rejection(url, any_port())
    assert connections_seen(origin) == 0


@pytest.mark.parametrize("host", [
    "2130706433",          # decimal
    "0x7f000001",          # hex
    "0x7f.0.0.1",
    "0177.0.0.1",          # octal
    "127.0.0.01",
    "127.1",               # short
    "127.0.1",
    "127.0.0.1.",          # trailing dot
    "[127.0.0.1]",         # IPv4 in brackets
    "[2130706433]",
    "[0x7f000001]",
    "[::1%25lo]",          # an IPv6 zone names an interface of the portal itself
])
def test_ip_addresses_not_in_canonical_form_are_refused_as_such(origin, host):
    reason = rejection(f"http://{host}:{origin.server_port}/blob", any_port())
    assert "not an IP address in canonical form" in reason
    assert connections_seen(origin) == 0


@pytest.mark.parametrize("host", ["localhost", "LOCALHOST", "localhost."])
def test_a_name_resolving_to_loopback_is_refused_without_naming_the_address(origin, host):
    reason = rejection(f"http://{host}:{origin.server_port}/blob", any_port())
    assert reason == "host localhost resolves to an address that is loopback"
    assert connections_seen(origin) == 0


def test_every_address_a_name_resolves_to_is_checked(resolver):
    resolver["mirror.example"] = ["8.8.8.8", "10.0.0.7"]
    reason = rejection("http://mirror.example/x.qcow2", policy())
    assert reason == "host mirror.example resolves to an address that is private"
    resolver["mirror.example"] = ["8.8.8.8", "2606:4700::1111"]
    assert check_url("http://mirror.example/", policy()).addresses == ("8.8.8.8",
                                                                       "2606:4700::1111")


def test_a_name_that_does_not_resolve_is_refused():
    assert rejection("http://no-such-host.invalid/", policy()) == (
        "host no-such-host.invalid could not be resolved")


# The URL itself

def test_a_user_name_and_password_are_refused_and_not_repeated(origin):
    allowed = policy(allowed_hosts=[f"127.0.0.1:{origin.server_port}"])
    reason = rejection(f"http://user:s3cret@127.0.0.1:{origin.server_port}/blob", allowed)
    assert reason == "URL may not contain a user name or password"
    assert "s3cret" not in reason
    assert connections_seen(origin) == 0


@pytest.mark.parametrize("url", ["ftp://8.8.8.8/x", "file:///etc/passwd", "gopher://8.8.8.8/",
                                 "8.8.8.8/x", "//8.8.8.8/x"])
def test_only_http_and_https_can_be_fetched(url):
    assert "is not allowed (allowed: http, https)" in rejection(url, policy())


def test_allowed_schemes_narrow_http_and_https():
    assert "scheme http is not allowed" in rejection("http://8.8.8.8/",
                                                     policy(allowed_schemes=["https"]))
    with pytest.raises(ValueError):
        FetchPolicy(allowed_schemes=["http", "ftp"])


def test_a_port_outside_allowed_ports_is_refused(origin):
    assert rejection("http://8.8.8.8:8080/", policy()) == "port 8080 is not allowed"
    # An allowed host listed without a port does not bring its own port.
    listed = policy(allowed_hosts=["127.0.0.1"])
    url = f"http://127.0.0.1:{origin.server_port}/blob"
    assert rejection(url, listed) == f"port {origin.server_port} is not allowed"
    assert connections_seen(origin) == 0


@pytest.mark.parametrize("url, reason", [
    ("http://8.8.8.8/#@127.0.0.1/", "URL may not contain a fragment (#)"),
    ("http://8.8.8.8#@127.0.0.1/", "URL may not contain a fragment (#)"),
    ("http://127.0.0.1\\@8.8.8.8/", "URL may not contain spaces, control characters"),
    ("http://8.8.8.8/x\r\nHost: 127.0.0.1", "URL may not contain spaces, control characters"),
    ("http://8.8.8.8/ä", "URL may not contain spaces, control characters"),
    ("http://::1/", "an IPv6 address must be written in brackets"),
    ("http://[::1]x/", "port 'x' is not valid"),
    ("http://8.8.8.8:0/", "port '0' is not valid"),
    ("http://8.8.8.8:+80/", "port '+80' is not valid"),
    ("http://bad..name/", "host 'bad..name' is not a valid host name"),
    ("http://%6c%6fcalhost/", "host '%6c%6fcalhost' is not a valid host name"),
    ("http://127.0.0.%31/", "host '127.0.0.%31' is not a valid host name"),
    ("http://8.8.8.8/" + "a" * 2048, "URL is longer than 2048 characters"),
    ("", "URL is empty"),
])
def test_urls_that_parsers_read_differently_are_refused(url, reason):
    assert rejection(url, policy()).startswith(reason)


# Allowed hosts: what an operator lists is what passes

def test_an_allowed_internal_address_streams_the_exact_bytes(origin):
    allowed = policy(allowed_hosts=[f"127.0.0.1:{origin.server_port}"])
    body, length = fetch(f"http://127.0.0.1:{origin.server_port}/blob", allowed)
    assert body == PAYLOAD
    assert length == len(PAYLOAD)
    assert connections_seen(origin) == 1


def test_the_body_arrives_while_the_server_is_still_sending(origin):
    allowed = policy(allowed_hosts=[f"127.0.0.1:{origin.server_port}"])
    with open_url(f"http://127.0.0.1:{origin.server_port}/gated", allowed) as download:
        half = len(PAYLOAD) // 2
        first = download.read(half)              # the server holds the rest back
        origin.gate.set()
        rest = download.read(len(PAYLOAD))
        assert download.read(CHUNK) == b""
    assert first + rest == PAYLOAD


def test_an_allowed_entry_with_a_port_allows_no_other_port(origin):
    allowed = policy(allowed_hosts=[f"127.0.0.1:{origin.server_port + 1}"])
    reason = rejection(f"http://127.0.0.1:{origin.server_port}/blob", allowed)
    assert reason == f"host 127.0.0.1 (port {origin.server_port}) is not in the allowed hosts"
    assert connections_seen(origin) == 0


def test_only_listed_hosts_pass_when_allowed_hosts_is_set():
    allowed = policy(allowed_hosts=["8.8.8.8"])
    assert check_url("http://8.8.8.8/", allowed).host == "8.8.8.8"
    assert "is not in the allowed hosts" in rejection("http://8.8.4.4/", allowed)


def test_listing_a_name_does_not_allow_the_loopback_address_it_resolves_to(origin):
    port = origin.server_port
    reason = rejection(f"http://localhost:{port}/host", policy(allowed_hosts=[f"localhost:{port}"]))
    assert reason == "host localhost resolves to an address that is loopback"
    assert connections_seen(origin) == 0


def test_the_host_header_names_the_url_host_while_the_socket_goes_to_its_address(origin):
    port = origin.server_port
    allowed = policy(allowed_hosts=[f"localhost:{port}", f"127.0.0.1:{port}"])
    body, _ = fetch(f"http://localhost:{port}/host", allowed)
    assert body == f"localhost:{port}".encode()


def test_a_second_dns_answer_is_never_asked_for(origin, monkeypatch):
    """The connection goes to the address that was checked, whatever DNS says next."""
    port = origin.server_port
    if not bindable("127.0.0.2"):
        pytest.skip("127.0.0.2 cannot be bound here")
    real = socket.getaddrinfo
    answers = iter(["127.0.0.1"])                 # then every lookup says 127.0.0.2

    def rebinding(host, *args, **kwargs):
        if host == "localhost":
            host = next(answers, "127.0.0.2")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    allowed = policy(allowed_hosts=[f"localhost:{port}", f"127.0.0.1:{port}"])
    with serving("127.0.0.2", port) as rebound:
        body, _ = fetch(f"http://localhost:{port}/whoami", allowed)
        assert body == b"127.0.0.1"
        assert connections_seen(rebound) == 0


# Deny-list: ignored while an allow-list is set, as Glance's validate_import_uri() drops
# disallowed_hosts when allowed_hosts is configured (openstack/glance: glance/common/utils.py)

def test_a_denied_host_is_refused_while_the_allow_list_is_empty():
    denied = policy(disallowed_hosts=["8.8.8.8"])
    assert rejection("http://8.8.8.8/", denied) == "host 8.8.8.8 is not allowed"
    assert check_url("http://8.8.4.4/", denied).host == "8.8.4.4"


def test_a_denied_host_that_is_also_allowed_passes_because_the_allow_list_wins(origin):
    both = policy(allowed_hosts=["8.8.8.8"], disallowed_hosts=["8.8.8.8"])
    assert check_url("http://8.8.8.8/", both).host == "8.8.8.8"
    port = origin.server_port
    both = policy(allowed_hosts=[f"127.0.0.1:{port}"], disallowed_hosts=["127.0.0.1"])
    assert fetch(f"http://127.0.0.1:{port}/blob", both)[0] == PAYLOAD


def test_a_denied_entry_with_a_port_denies_only_that_port():
    denied = policy(disallowed_hosts=["8.8.8.8:443"])
    assert rejection("https://8.8.8.8/", denied) == "host 8.8.8.8 is not allowed"
    assert check_url("http://8.8.8.8/", denied).port == 80


def test_a_name_resolving_to_a_denied_address_is_refused(resolver):
    resolver["mirror.example"] = ["8.8.8.8"]
    reason = rejection("http://mirror.example/", policy(disallowed_hosts=["8.8.8.8"]))
    assert reason == "host mirror.example resolves to an address that is not allowed"


# Redirects: each target passes the same check before anything connects to it

@pytest.mark.parametrize("target, reason", [
    ("http://127.0.0.2:{port}/blob", "redirect rejected: host 127.0.0.2 (port {port}) is not in"),
    ("http://localhost:{port}/blob", "redirect rejected: host localhost (port {port}) is not in"),
    ("http://2130706434:{port}/blob", "redirect rejected: host 2130706434 is not an IP address"),
    ("http://u:p@127.0.0.2:{port}/blob", "redirect rejected: URL may not contain a user name"),
    ("ftp://127.0.0.2:{port}/blob", "redirect rejected: scheme ftp is not allowed"),
])
def test_a_redirect_to_a_place_not_allowed_is_refused_before_connecting(origin, elsewhere,
                                                                        target, reason):
    allowed = policy(allowed_hosts=[f"127.0.0.1:{origin.server_port}"])
    target = target.format(port=elsewhere.server_port)
    with pytest.raises(UrlRejected) as refused:
        open_url(f"http://127.0.0.1:{origin.server_port}/redirect?to={target}", allowed)
    assert str(refused.value).startswith(reason.format(port=elsewhere.server_port))
    assert connections_seen(elsewhere) == 0


def test_a_redirect_to_a_listed_name_of_a_loopback_address_is_refused(origin, elsewhere,
                                                                      resolver):
    # The name is allowed, its address is not: the redirect gets no more than the first URL.
    resolver["mirror.internal"] = ["127.0.0.2"]
    allowed = policy(allowed_hosts=[f"127.0.0.1:{origin.server_port}",
                                    f"mirror.internal:{elsewhere.server_port}"])
    target = f"http://mirror.internal:{elsewhere.server_port}/blob"
    with pytest.raises(UrlRejected) as refused:
        open_url(f"http://127.0.0.1:{origin.server_port}/redirect?to={target}", allowed)
    assert str(refused.value) == ("redirect rejected: host mirror.internal resolves to an "
                                  "address that is loopback")
    assert connections_seen(elsewhere) == 0


def test_a_redirect_to_an_allowed_place_is_followed(origin, elsewhere):
    allowed = policy(allowed_hosts=[f"127.0.0.1:{origin.server_port}",
                                    f"127.0.0.2:{elsewhere.server_port}"])
    target = f"http://127.0.0.2:{elsewhere.server_port}/blob"
    body, length = fetch(f"http://127.0.0.1:{origin.server_port}/redirect?to={target}", allowed)
    assert (body, length) == (PAYLOAD, len(PAYLOAD))
    assert connections_seen(elsewhere) == 1


def test_a_relative_redirect_stays_on_the_same_host(origin):
    allowed = policy(allowed_hosts=[f"127.0.0.1:{origin.server_port}"])
    body, _ = fetch(f"http://127.0.0.1:{origin.server_port}/redirect?to=/blob", allowed)
    assert body == PAYLOAD


def test_a_redirect_chain_longer_than_max_redirects_fails(origin):
    base = f"http://127.0.0.1:{origin.server_port}"
    allowed = policy(allowed_hosts=[f"127.0.0.1:{origin.server_port}"])
    assert fetch(f"{base}/chain/5", allowed)[0] == b"end of chain"
    with pytest.raises(FetchFailed, match="more than 5 redirects"):
        open_url(f"{base}/chain/6", allowed)
    no_redirects = policy(allowed_hosts=[f"127.0.0.1:{origin.server_port}"], max_redirects=0)
    with pytest.raises(FetchFailed, match="more than 0 redirects"):
        open_url(f"{base}/chain/1", no_redirects)


# Failures after the check

def test_a_404_fails_with_its_status(origin):
    allowed = policy(allowed_hosts=[f"127.0.0.1:{origin.server_port}"])
    with pytest.raises(FetchFailed) as failed:
        open_url(f"http://127.0.0.1:{origin.server_port}/missing", allowed)
    assert failed.value.status == 404
    assert str(failed.value) == "127.0.0.1 answered 404"


def test_a_refused_connection_fails():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]                 # closed again, nothing listens
    with pytest.raises(FetchFailed, match="could not connect to 127.0.0.1"):
        open_url(f"http://127.0.0.1:{port}/", policy(allowed_hosts=[f"127.0.0.1:{port}"]))


def test_a_server_that_does_not_answer_in_time_fails(origin):
    allowed = FetchPolicy(allowed_hosts=[f"127.0.0.1:{origin.server_port}"], timeout=0.2)
    with pytest.raises(FetchFailed, match="did not answer within 0.2 s"):
        open_url(f"http://127.0.0.1:{origin.server_port}/slow", allowed)


@pytest.mark.parametrize("path, options, message", [
    # A byte every 0.1 s never trips the read timeout; the rate floor stops it.
    ("/trickle", {"min_rate": 4096, "min_rate_window": 1},
     "sent less than 4096 bytes/s over 1 s"),
    # A fair rate, but a body that never ends.
    ("/steady", {"deadline": 1.5, "min_rate": 0}, "did not finish within 1.5 s"),
])
def test_a_download_too_slow_fails_within_seconds(origin, path, options, message):
    allowed = policy(allowed_hosts=[f"127.0.0.1:{origin.server_port}"], **options)
    started = time.monotonic()
    with pytest.raises(FetchFailed, match=message):
        fetch(f"http://127.0.0.1:{origin.server_port}{path}", allowed)
    assert 1 <= time.monotonic() - started < 4


def test_a_fast_download_passes_the_deadline_and_rate_floor(origin):
    allowed = policy(allowed_hosts=[f"127.0.0.1:{origin.server_port}"], deadline=10,
                     min_rate=2**20, min_rate_window=1)
    assert fetch(f"http://127.0.0.1:{origin.server_port}/blob", allowed) == \
        (PAYLOAD, len(PAYLOAD))


def test_a_body_shorter_than_its_content_length_fails(origin):
    allowed = policy(allowed_hosts=[f"127.0.0.1:{origin.server_port}"])
    with pytest.raises(FetchFailed, match="broke off"):
        fetch(f"http://127.0.0.1:{origin.server_port}/short", allowed)


def test_length_is_none_when_the_server_does_not_say(origin):
    allowed = policy(allowed_hosts=[f"127.0.0.1:{origin.server_port}"])
    body, length = fetch(f"http://127.0.0.1:{origin.server_port}/no-length", allowed)
    assert (body, length) == (b"until the connection closes", None)


# https: the socket goes to the checked address, TLS to the name

@pytest.fixture
def tls_origin():
    if not (CERTDATA / "keycert3.pem").exists():
        pytest.skip("Python's test certificates are not installed")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(CERTDATA / "keycert3.pem")
    server_names = []
    context.sni_callback = lambda tls, name, ctx: server_names.append(name)
    with serving("127.0.0.1", tls=context) as server:
        server.server_names = server_names
        yield server


def test_https_verifies_the_certificate_for_the_url_host_and_sends_it_as_sni(tls_origin):
    port = tls_origin.server_port
    allowed = policy(allowed_hosts=[f"localhost:{port}", f"127.0.0.1:{port}"],
                     ca_bundle=str(CERTDATA / "pycacert.pem"))
    body, _ = fetch(f"https://localhost:{port}/blob", allowed)
    assert body == PAYLOAD
    assert tls_origin.server_names == ["localhost"]


def test_https_fails_when_the_certificate_is_for_another_name(tls_origin):
    port = tls_origin.server_port
    allowed = policy(allowed_hosts=[f"127.0.0.1:{port}"], ca_bundle=str(CERTDATA / "pycacert.pem"))
    with pytest.raises(FetchFailed, match="TLS with 127.0.0.1 failed"):
        open_url(f"https://127.0.0.1:{port}/blob", allowed)     # the certificate names localhost


def test_https_fails_when_the_certificate_is_not_trusted(tls_origin):
    port = tls_origin.server_port
    allowed = policy(allowed_hosts=[f"localhost:{port}", f"127.0.0.1:{port}"])
    with pytest.raises(FetchFailed, match="TLS with localhost failed"):
        open_url(f"https://localhost:{port}/blob", allowed)


# The policy from settings.WEB_DOWNLOAD

def test_the_policy_has_glances_defaults_without_the_setting(settings):
    del settings.WEB_DOWNLOAD
    assert FetchPolicy.from_settings() == FetchPolicy()
    default = FetchPolicy()
    assert (default.allowed_schemes, default.allowed_ports) == (("http", "https"), (80, 443))
    assert (default.allowed_hosts, default.disallowed_hosts) == ((), ())
    assert default.max_redirects == 5
    assert (default.deadline, default.min_rate, default.min_rate_window) == (43200, 1024, 60)


def test_keys_missing_from_the_setting_keep_their_defaults(settings):
    settings.WEB_DOWNLOAD = {"allowed_hosts": ["127.0.0.1:8099"], "max_redirects": 2}
    configured = FetchPolicy.from_settings()
    assert configured.allowed_hosts == ("127.0.0.1:8099",)
    assert configured.max_redirects == 2
    assert configured.allowed_ports == (80, 443)


def test_the_deadline_and_rate_floor_come_from_the_web_download_table(settings, tmp_path):
    raw = tomllib.loads(f"""
        [stores.local]
        backend = "file"
        root = "{tmp_path}"
        [web_download]
        deadline = 600
        min_rate = 2048
        min_rate_window = 30
    """)
    settings.WEB_DOWNLOAD = config.parse(raw, environ={}, base_dir=tmp_path)["WEB_DOWNLOAD"]
    configured = FetchPolicy.from_settings()
    assert (configured.deadline, configured.min_rate, configured.min_rate_window) == \
        (600, 2048, 30)


def test_check_url_without_a_policy_uses_the_setting(settings):
    settings.WEB_DOWNLOAD = {"disallowed_hosts": ["8.8.8.8"]}
    with pytest.raises(UrlRejected, match="host 8.8.8.8 is not allowed"):
        check_url("http://8.8.8.8/")


@pytest.mark.parametrize("config", [
    {"allowed_host": ["8.8.8.8"]},                # unknown key
    {"allowed_hosts": "8.8.8.8"},                 # a string, not a list
    {"allowed_hosts": ["not a host!"]},
    {"allowed_schemes": ["file"]},
    {"allowed_ports": [0]},
    {"max_redirects": -1},
    {"deadline": 0},
    {"min_rate": -1},
    {"min_rate_window": 0},
])
def test_a_bad_setting_is_reported_as_improperly_configured(settings, config):
    settings.WEB_DOWNLOAD = config
    with pytest.raises(ImproperlyConfigured, match="WEB_DOWNLOAD"):
        FetchPolicy.from_settings()
