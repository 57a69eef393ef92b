"""The http store: a location's own URL is read as the operator configured it, but where the
web server redirects passes web-download's SSRF checks first.

The servers are real and local (tests/stores/test_urlfetch.py); a refusal is proven by the
connections the refused server accepted, zero.
"""
import re

import pytest
from django.test import Client

from accounts.services import token_create, user_ensure
from images.models import ImageLocation
from stores.backends.http import HttpStore
from stores.exceptions import StoreUnavailable
from tests import factories
from tests.stores.test_urlfetch import PAYLOAD, connections_seen
# Two servers on 127.0.0.1: the web server the operator configured, on loopback as an
# internal mirror would be, and another service of the portal's own network, that no
# redirect may reach.
from tests.stores.test_urlfetch import origin as internal  # noqa: F401 (a fixture)
from tests.stores.test_urlfetch import origin as mirror  # noqa: F401 (a fixture)


@pytest.fixture
def http_store():
    return HttpStore("web")


@pytest.fixture
def any_port(settings):
    """Every port allowed, so that what refuses a redirect is its address, not its port."""
    settings.WEB_DOWNLOAD = {"allowed_ports": []}


def url(server, path):
    return f"http://127.0.0.1:{server.server_port}{path}"


def read(store, uri):
    with store.open(uri) as reader:
        return b"".join(reader)


def test_a_location_on_an_internal_mirror_is_read_as_configured(http_store, mirror):
    assert read(http_store, url(mirror, "/blob")) == PAYLOAD


def test_a_redirect_to_a_loopback_service_is_refused_before_connecting(http_store, mirror,
                                                                       internal, any_port):
    redirect = url(mirror, f"/redirect?to={url(internal, '/blob')}")
    with pytest.raises(StoreUnavailable, match="redirect rejected: address 127.0.0.1 is "
                                               "loopback"):
        http_store.open(redirect)
    assert connections_seen(internal) == 0


@pytest.mark.parametrize("target, kind", [
    ("http://10.0.0.7/blob", "private"),
    ("http://192.168.1.1:8080/blob", "private"),
    ("http://169.254.169.254/latest/meta-data/", "link-local (cloud metadata service)"),
    ("http://[::1]/blob", "loopback"),
])
def test_a_redirect_to_a_private_address_is_refused(http_store, mirror, any_port, target,
                                                    kind):
    with pytest.raises(StoreUnavailable, match=re.escape(f"is {kind}")):
        http_store.open(url(mirror, f"/redirect?to={target}"))


def test_a_redirect_to_a_host_the_operator_allowed_is_followed(http_store, mirror, internal,
                                                               settings):
    settings.WEB_DOWNLOAD = {"allowed_hosts": [f"127.0.0.1:{internal.server_port}"]}
    assert read(http_store, url(mirror, f"/redirect?to={url(internal, '/blob')}")) == PAYLOAD


def test_redirects_past_max_redirects_are_refused(http_store, mirror, settings):
    settings.WEB_DOWNLOAD = {"allowed_hosts": [f"127.0.0.1:{mirror.server_port}"],
                             "max_redirects": 2}
    assert read(http_store, url(mirror, "/chain/2")) == b"end of chain"
    with pytest.raises(StoreUnavailable, match="more than 2 redirects"):
        http_store.open(url(mirror, "/chain/3"))


@pytest.mark.django_db(transaction=True)
def test_a_download_through_a_refused_redirect_answers_the_apis_error(file_stores, settings,
                                                                      mirror):
    settings.STORES = {**settings.STORES, "web": {"BACKEND": "stores.backends.http.HttpStore"}}
    image, _ = factories.active_image()
    ImageLocation.objects.filter(image=image).update(
        value=url(mirror, "/redirect?to=http://10.0.0.7/blob"), meta_data={"store": "web"})
    user = user_ensure(username="root", project_name="root-project", admin=True)
    response = Client(HTTP_X_AUTH_TOKEN=token_create(user=user), HTTP_ACCEPT="application/json").get(
        f"/v2/images/{image.id}/file")
    assert response.status_code == 503
    assert "redirect rejected: address 10.0.0.7 is private" in \
        response.json()["error"]["message"]
