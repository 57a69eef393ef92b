"""Version discovery: `GET /versions` (200) and `GET /` (300) list the API versions."""
from django.http import HttpResponseRedirect
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from drf_spectacular.utils import extend_schema

from images.api import openapi as doc


from images.api.common import ApiView

# What this API implements; glanceclient checks exact ids (v2.12 for image-tasks, v2.17
# for add-location), openstacksdk takes the highest CURRENT one.
VERSIONS = ["v2.17", "v2.16", "v2.15", "v2.14", "v2.13", "v2.12", "v2.11", "v2.10", "v2.9",
            "v2.8", "v2.7", "v2.6", "v2.5", "v2.4", "v2.3", "v2.2", "v2.1", "v2.0"]


def versions_document(request):
    href = request.build_absolute_uri("/v2/")
    return {"versions": [{"id": version, "status": "CURRENT" if i == 0 else "SUPPORTED",
                          "links": [{"rel": "self", "href": href}]}
                         for i, version in enumerate(VERSIONS)]}


class VersionsView(ApiView):
    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(responses={200: doc.ANY_OBJECT})
    def get(self, request):
        return Response(versions_document(request))


class RootView(ApiView):
    """`/`: the versions document (300, as Glance) for API clients; browsers go to the portal."""

    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(exclude=True)
    def get(self, request):
        accept = request.headers.get("Accept", "")
        if "text/html" in accept:
            return HttpResponseRedirect("/images/")
        return Response(versions_document(request), status=300)
