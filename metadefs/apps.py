from django.apps import AppConfig


class MetadefsConfig(AppConfig):
    """Metadata definitions (Glance's /v2/metadefs): the catalog of properties, objects and
    tags that images, volumes, flavors and servers may carry."""

    name = "metadefs"
    default_auto_field = "django.db.models.BigAutoField"
