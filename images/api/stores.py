"""Multi-store discovery and per-store delete: `/v2/info/stores`, `/v2/stores/STORE/ID`."""
from django.conf import settings
from rest_framework import status
from rest_framework.response import Response
from drf_spectacular.utils import extend_schema

from images.api import openapi as doc


from images import services
from images.api.common import ApiView
from images.api.views import IMPORT_METHODS
from images import policy
from images.services import quotas
from stores.registry import client_stores


def store_entry(store):
    """A store as /v2/info/stores lists it: "default" and "read-only" are the string "true",
    present only when true (what glanceclient expects)."""
    entry = {"id": store.name}
    if store.description:
        entry["description"] = store.description
    if store.name == settings.DEFAULT_STORE:
        entry["default"] = "true"
    if store.read_only:
        entry["read-only"] = "true"
    return entry


class StoresInfoView(ApiView):
    @extend_schema(responses={200: doc.STORES})
    def get(self, request):
        return Response({"stores": [store_entry(store) for store in client_stores()]})


class StoresDetailView(ApiView):
    @extend_schema(responses={200: doc.STORES, **doc.errors(403)})
    def get(self, request):
        policy.authorize(request.caller, "stores_info_detail",
                         message="Store details are for admins only.")
        return Response({"stores": [
            {**store_entry(store), "type": store.kind, "weight": store.weight,
             "properties": store.info()} for store in client_stores()]})


class StoreImageView(ApiView):
    @extend_schema(responses={204: None, **doc.errors(401, 403, 404, 409)})
    def delete(self, request, store_name, image_id):
        image = self.owned_image(request, image_id, "delete_image_location")
        services.location_delete(image=image, store_name=store_name)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ImportInfoView(ApiView):
    @extend_schema(responses={200: doc.ANY_OBJECT})
    def get(self, request):
        return Response({"import-methods": {"description": "Import methods available.",
                                            "type": "array", "value": list(IMPORT_METHODS)}})


class UsageView(ApiView):
    @extend_schema(responses={200: doc.ANY_OBJECT})
    def get(self, request):
        """The caller's project: each resource's usage and limit, as Glance answers (sizes
        in MiB, rounded down, as Keystone's limits are; -1 is unlimited)."""
        usage = {}
        for row in quotas.usage_report(request.caller.project):
            value, limit = row["usage"], row["limit"]
            if row["unit"] == "bytes":
                value, limit = value // 2**20, limit if limit == -1 else limit // 2**20
            usage[row["resource"]] = {"usage": value, "limit": limit}
        return Response({"usage": usage})
