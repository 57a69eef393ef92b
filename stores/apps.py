import logging

from django.apps import AppConfig
from django.conf import settings

logger = logging.getLogger("stores")


class StoresConfig(AppConfig):
    name = "stores"
    verbose_name = "Stores"

    def ready(self):
        from stores import checks, registry  # noqa: F401  (registers the check and signal)

        # ready() runs once per process, after logging is set up: one warning, not one per
        # settings import, and not silently dropped options.
        unsupported = getattr(settings, "CONFIG_UNSUPPORTED", [])
        if unsupported:
            logger.warning("PORTAL_CONFIG: %d Glance option(s) not supported, ignored: %s",
                           len(unsupported), "; ".join(unsupported))
