"""Error bodies as Glance's come out of webob: the JSON form
{"error": {"code": 404, "title": "Not Found", "message": "..."}} (see image-api.md §9) to a
client whose Accept prefers application/json, an HTML page to one preferring text/html
(glanceclient and curl send `*/*`), plain text starting with the status line to one
accepting neither."""
import re
from html import escape
from http import HTTPStatus

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from rest_framework import exceptions
from rest_framework.views import exception_handler as drf_exception_handler

from images.exceptions import ImageError
from stores.exceptions import StoreError, UnknownStore

# webob.exc.WSGIHTTPException's templates (webob 1.8 `exc.py`) filled as Glance fills them,
# `explanation=message` and no detail or comment. glanceclient strips the tags of an HTML body
# and joins its distinct lines with ": ", so the CLI prints `HTTP 404 Not Found: No image found
# with ID ...` as it does against Glance.
HTML = """<html>
 <head>
  <title>{status}</title>
 </head>
 <body>
  <h1>{status}</h1>
  {message}<br /><br />



 </body>
</html>"""
PLAIN = "{status}\n\n{message}\n\n   "
# webob offers these two, in this order: a tie (as under `*/*`) goes to HTML.
OFFERS = ("text/html", "application/json")
Q_VALUE = re.compile(r";\s*q\s*=\s*([0-9.]+)", re.I)


def error_body(status, message):
    title = HTTPStatus(status).phrase
    return {"error": {"code": status, "title": title, "message": str(message)}}


def preferred_type(accept):
    """The offer the Accept header `accept` prefers, as webob's `acceptable_offers` picks it,
    or None when it accepts neither.

    An empty or missing header gets JSON, unlike webob's plain text: openstacksdk sends an
    empty Accept with uploads and patches and shows only the reason phrase of a text body.
    """
    if not (accept or "").strip():
        return "application/json"
    ranges = []
    for item in (accept or "").split(","):
        media = item.split(";", 1)[0].strip().lower()
        if "/" not in media:
            continue
        match = Q_VALUE.search(item)
        try:
            quality = float(match[1]) if match else 1.0
        except ValueError:
            continue
        ranges.append((media, quality))
    best, best_quality = None, 0.0
    for offer in OFFERS:
        kind = offer.split("/")[0] + "/*"
        # The most specific range naming the offer sets its quality (RFC 9110 §12.5.1).
        for candidate in (offer, kind, "*/*"):
            qualities = [quality for media, quality in ranges if media == candidate]
            if qualities:
                if max(qualities) > best_quality:
                    best, best_quality = offer, max(qualities)
                break
    return best


def error_response(request, status, message, headers=None):
    """The error `status` saying `message`, in the form the request's Accept prefers."""
    accept = request.headers.get("Accept") if request is not None else None
    kind = preferred_type(accept)
    line = f"{status} {HTTPStatus(status).phrase}"
    if kind == "application/json":
        response = JsonResponse(error_body(status, message), status=status)
    elif kind == "text/html":
        # webob also escapes quotes and writes non-ASCII as character references, which
        # glanceclient prints as they come (`Store &#x27;nfs&#x27;`): only &, < and > here.
        page = HTML.format(status=line, message=escape(str(message), quote=False))
        response = HttpResponse(page, status=status, content_type="text/html; charset=UTF-8")
    else:
        # webob's plain body is its HTML body's text: line breaks become spaces.
        text = str(message).replace("\r", "").replace("\n", " ")
        response = HttpResponse(PLAIN.format(status=line, message=text), status=status,
                                content_type="text/plain; charset=UTF-8")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def exception_handler(exc, context):
    request = context.get("request")
    if isinstance(exc, ImageError):
        if exc.status == 204:
            return HttpResponse(status=204)
        return error_response(request, exc.status, exc.message, exc.headers)
    if isinstance(exc, UnknownStore):
        return error_response(request, 400, exc)
    if isinstance(exc, StoreError):
        return error_response(request, 503, exc)
    if isinstance(exc, (OperationalError, InterfaceError)):
        # The server's address and the driver's words are of no use to a client.
        return error_response(request, 503, "The database of the image service is "
                                            "unavailable; try again shortly.")
    response = drf_exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response
    detail = exc.detail
    if isinstance(detail, dict):
        message = "; ".join(f"{k}: {v}" for k, v in detail.items())
    elif isinstance(detail, list):
        message = "; ".join(map(str, detail))
    else:
        message = str(detail)
    # DRF's headers (WWW-Authenticate on a 401, Retry-After on a 429), not its default type.
    headers = {name: value for name, value in response.items()
               if name.lower() != "content-type"}
    return error_response(request, response.status_code, message, headers)


def not_found(request, exception=None):
    """Unknown paths: the API's error body under /v1/ and /v2/, Django's page elsewhere."""
    from django.views.defaults import page_not_found

    if request.path.startswith(("/v1/", "/v2/")):
        return error_response(request, 404, f"No resource at {request.path}")
    return page_not_found(request, exception)
