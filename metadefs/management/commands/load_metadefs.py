import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from images.exceptions import ImageError
from metadefs import schemas
from metadefs.models import Namespace
from metadefs.services import definition_load, definition_of


class Command(BaseCommand):
    help = ("Load metadata definition files (Glance's format, as in /etc/glance/metadefs/) "
            "from FOLDER: each *.json file's namespace is created, or brought to match the "
            "file when it was loaded before (same owner). Namespaces the folder does not name "
            "stay unless --prune is given. Running it again changes nothing.")

    def add_arguments(self, parser):
        parser.add_argument("folder", help="the folder holding the *.json definition files")
        parser.add_argument("--owner", default="admin",
                            help="owner of the namespaces loaded (default: admin, as Glance's "
                                 "loader), unless a file names its own")
        parser.add_argument("--prune", action="store_true",
                            help="delete the namespaces of that owner which no file names "
                                 "(earlier loads of files since removed)")

    def handle(self, *args, folder, owner, prune, **opts):
        path = Path(folder)
        if not path.is_dir():
            raise CommandError(f"{folder} is not a folder")
        files = sorted(p for p in path.iterdir() if p.suffix == ".json" and p.is_file())
        if not files:
            raise CommandError(f"No definition files (*.json) in {folder}")
        definitions = [self._read(file) for file in files]
        names = [definition["namespace"] for _, definition in definitions]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise CommandError(f"Namespace {duplicates[0]} is defined by more than one file")
        with transaction.atomic():
            for file, definition in definitions:
                self._load(file, definition, owner)
            if prune:
                for namespace in Namespace.objects.filter(owner=owner).exclude(
                        namespace__in=names).order_by("namespace"):
                    namespace.delete()
                    self.stdout.write(f"Deleted {namespace.namespace} (no file names it)")

    def _read(self, file):
        try:
            definition = json.loads(file.read_text(encoding="utf-8"))
            schemas.validate(definition, schemas.namespace_schema())
        except ValueError as exc:
            raise CommandError(f"{file}: not JSON: {exc}") from None
        except ImageError as exc:
            raise CommandError(f"{file}: {exc.message}") from None
        return file, definition

    def _load(self, file, definition, owner):
        name = definition["namespace"]
        existing = Namespace.objects.filter(namespace=name).first()
        expected_owner = definition.get("owner") or owner
        if existing is not None and existing.owner != expected_owner:
            self.stderr.write(f"Skipped {file.name}: namespace {name} exists, owned by "
                              f"{existing.owner}, not loaded from a file")
            return
        before = definition_of(existing) if existing is not None else None
        savepoint = transaction.savepoint()
        try:
            namespace, created = definition_load(definition, owner=owner)
        except ImageError as exc:
            raise CommandError(f"{file}: {exc.message}") from None
        if before is not None and definition_of(namespace) == before:
            # Nothing to change: not even its rows' updated_at.
            transaction.savepoint_rollback(savepoint)
            self.stdout.write(f"Unchanged {name} ({file.name})")
            return
        transaction.savepoint_commit(savepoint)
        self.stdout.write(f"{'Created' if created else 'Updated'} {name} from {file.name}")
