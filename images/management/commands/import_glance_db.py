from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS

from images.cli import table
from images.services.glance_import import glance_db_import


class Command(BaseCommand):
    help = ("Copy the image records of a Glance database (images, properties, tags, members, "
            "locations, deleted rows too) into the portal's database. No image data is "
            "copied. Running it again changes nothing.")

    def add_arguments(self, parser):
        parser.add_argument("--database", default="glance",
                            help="the alias of the Glance database to read (default: glance, "
                                 "set by GLANCE_DATABASE_URL)")
        parser.add_argument("--dry-run", action="store_true",
                            help="print what would change and write nothing")

    def handle(self, *args, database, dry_run, **opts):
        if database not in settings.DATABASES:
            raise CommandError(f"No database '{database}': set GLANCE_DATABASE_URL to the "
                               "Glance database's URL")
        if database == DEFAULT_DB_ALIAS:
            raise CommandError("The Glance database must not be the portal's own ('default')")
        plans = glance_db_import(source=database, target=DEFAULT_DB_ALIAS, dry_run=dry_run)
        rows = [(p.table, *p.counts().values()) for p in plans]
        self.stdout.write(table(rows, ("Table", "New", "Updated", "Unchanged")))
        changed = sum(len(p.new) + len(p.updated) for p in plans)
        if dry_run:
            self.stdout.write(f"Dry run: {changed} rows would change; nothing was written.")
        else:
            self.stdout.write(f"Imported from '{database}': {changed} rows changed.")
