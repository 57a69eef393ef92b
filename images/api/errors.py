"""Error bodies both glanceclient and openstacksdk can read:
{"error": {"code": 404, "title": "Not Found", "message": "..."}} (see image-api.md §9)."""
from http import HTTPStatus

from django.db import InterfaceError, OperationalError
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from images.exceptions import ImageError
from stores.exceptions import StoreError, UnknownStore


def error_body(status, message):
    title = HTTPStatus(status).phrase
    return {"error": {"code": status, "title": title, "message": str(message)}}


def exception_handler(exc, context):
    if isinstance(exc, ImageError):
        if exc.status == 204:
            return Response(status=204)
        return Response(error_body(exc.status, exc.message), status=exc.status,
                        headers=exc.headers or None)
    if isinstance(exc, UnknownStore):
        return Response(error_body(400, exc), status=400)
    if isinstance(exc, StoreError):
        return Response(error_body(503, exc), status=503)
    if isinstance(exc, (OperationalError, InterfaceError)):
        # The server's address and the driver's words are of no use to a client.
        return Response(error_body(503, "The database of the image service is unavailable; "
                                        "try again shortly."), status=503)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.APIException):
        detail = exc.detail
        if isinstance(detail, dict):
            message = "; ".join(f"{k}: {v}" for k, v in detail.items())
        elif isinstance(detail, list):
            message = "; ".join(map(str, detail))
        else:
            message = str(detail)
        response.data = error_body(response.status_code, message)
    return response


def not_found(request, exception=None):
    """Unknown paths: the API's error body under /v1/ and /v2/, Django's page elsewhere."""
    from django.http import JsonResponse
    from django.views.defaults import page_not_found

    if request.path.startswith(("/v1/", "/v2/")):
        return JsonResponse(error_body(404, f"No resource at {request.path}"), status=404)
    return page_not_found(request, exception)
