"""Error bodies negotiated by Accept as webob does for Glance, and the `stores` field."""
import json

import pytest
from django.test import RequestFactory

from images.api.errors import error_response, preferred_type
from images.models import ImageLocation
from images.representation import image_view
from tests import factories


@pytest.mark.parametrize("accept, kind", [
    ("application/json", "application/json"),
    ("application/json, text/html;q=0.5", "application/json"),
    ("*/*", "text/html"),          # glanceclient and curl: webob's first offer wins a tie
    ("text/html", "text/html"),
    ("", "application/json"),      # openstacksdk's uploads and patches send an empty Accept
    (None, "application/json"),
    ("text/plain", None),
    ("application/json;q=0", None),
])
def test_accept_picks_the_offer_webob_would(accept, kind):
    assert preferred_type(accept) == kind


def test_a_client_asking_for_json_gets_the_nested_json_error():
    request = RequestFactory().get("/v2/images/x", HTTP_ACCEPT="application/json")
    response = error_response(request, 404, "No image found with ID x")
    assert response["Content-Type"] == "application/json"
    assert json.loads(response.content) == {
        "error": {"code": 404, "title": "Not Found", "message": "No image found with ID x"}}


def test_a_client_accepting_neither_gets_plain_text_starting_with_the_status_line():
    request = RequestFactory().get("/v2/images/x", HTTP_ACCEPT="text/plain")
    response = error_response(request, 409, "Image is locked")
    assert response["Content-Type"].startswith("text/plain")
    assert response.content.decode() == "409 Conflict\n\nImage is locked\n\n   "


def test_a_client_accepting_anything_gets_webobs_html_page_byte_for_byte():
    """The page webob 1.8 sends for Glance's `HTTPNotFound(explanation=...)` under `*/*`."""
    request = RequestFactory().get("/v2/images/x", HTTP_ACCEPT="*/*")
    response = error_response(request, 404, "No image found with ID x & <y>")
    assert response["Content-Type"] == "text/html; charset=UTF-8"
    assert response.content == (
        b"<html>\n <head>\n  <title>404 Not Found</title>\n </head>\n <body>\n"
        b"  <h1>404 Not Found</h1>\n  No image found with ID x &amp; &lt;y&gt;<br /><br />\n"
        b"\n\n\n </body>\n</html>")


def test_glanceclient_prints_the_status_line_and_message_of_an_html_error():
    from glanceclient import exc
    import requests

    request = RequestFactory().get("/v2/images/x", HTTP_ACCEPT="*/*")
    sent = error_response(request, 404, "No image found with ID x")
    received = requests.models.Response()
    received.status_code, received._content = 404, sent.content
    received.headers = requests.structures.CaseInsensitiveDict(sent.items())
    assert str(exc.from_response(received, received.content)) == \
        "HTTP 404 Not Found: No image found with ID x"


@pytest.mark.django_db
def test_stores_are_listed_sorted_whatever_order_the_copies_landed_in():
    image = factories.image()
    for store in ("zeta", "alpha", "mid"):
        ImageLocation.objects.create(image=image, value=f"file:///{store}/{image.id}",
                                     meta_data={"store": store})
    assert image_view(image)["stores"] == "alpha,mid,zeta"
