import json
import re
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from metadefs.models import Namespace
from metadefs.services import definition_of


class Command(BaseCommand):
    help = ("Write every namespace (or those named) into FOLDER as a definition file in "
            "Glance's format, one <namespace>.json each, which load_metadefs reads back.")

    def add_arguments(self, parser):
        parser.add_argument("folder")
        parser.add_argument("namespaces", nargs="*", help="only these namespaces")

    def handle(self, *args, folder, namespaces, **opts):
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        queryset = Namespace.objects.order_by("namespace")
        if namespaces:
            queryset = queryset.filter(namespace__in=namespaces)
            missing = set(namespaces) - set(queryset.values_list("namespace", flat=True))
            if missing:
                raise CommandError(f"No namespace {sorted(missing)[0]}")
        for namespace in queryset:
            # OS::Compute::Watchdog -> OS-Compute-Watchdog.json
            file = path / (re.sub(r"[^\w.-]+", "-", namespace.namespace) + ".json")
            file.write_text(json.dumps(definition_of(namespace), indent=4) + "\n",
                            encoding="utf-8")
            self.stdout.write(f"Wrote {file}")
