from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from stores.locations import redact

# The seed post's query, with the id as a parameter instead of pasted into the SQL.
QUERY = "select value from image_locations where image_id = %s"


class Command(BaseCommand):
    help = ("Run `select value from image_locations where image_id = ID` on a database "
            "(deleted locations included, as the query has no `deleted = 0`) and print "
            "one value a line, credentials hidden.")

    def add_arguments(self, parser):
        parser.add_argument("image_id")
        parser.add_argument("--database", default="glance",
                            help="database alias (default: glance; 'default' is the portal's)")

    def handle(self, *args, image_id, database, **opts):
        if database not in settings.DATABASES:
            raise CommandError(f"No database '{database}': set GLANCE_DATABASE_URL to the "
                               "Glance database's URL")
        with connections[database].cursor() as cursor:
            # Both servers return the rows in id order; ORDER BY makes it a promise.
            cursor.execute(QUERY + " order by id", [image_id])
            for (value,) in cursor.fetchall():
                self.stdout.write(redact(value))
