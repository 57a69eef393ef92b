from django.conf import settings
from django.core.management.base import BaseCommand

from images import services
from images.cli import table


class Command(BaseCommand):
    help = "List the configured stores with their backend and health."

    def handle(self, *args, **opts):
        rows = []
        unhealthy = 0
        # Probed now, not as the pages last saw it: whoever runs this wants to know; the
        # pages then show it too.
        for store, health in services.stores_health(fresh=True):
            unhealthy += not health.ok
            rows.append((store.name, store.kind, store.name == settings.DEFAULT_STORE,
                         store.read_only, "ok" if health.ok else "UNHEALTHY", health.reason,
                         store.description))
        self.stdout.write(table(rows, ("Store", "Backend", "Default", "Read-only", "Health",
                                       "Detail", "Description")))
        if unhealthy:
            self.stderr.write(f"{unhealthy} store(s) unhealthy")
