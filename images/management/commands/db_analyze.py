from django.core.management.base import BaseCommand
from django.db import connections


class Command(BaseCommand):
    help = ("Refresh the query planner's statistics of the portal's database. SQLite keeps none "
            "until ANALYZE runs, and without them it sorts a whole image list to show one page; "
            "PostgreSQL and MariaDB gather their own, so this is a no-op there.")

    def add_arguments(self, parser):
        parser.add_argument("--database", default="default")

    def handle(self, *args, database, **opts):
        connection = connections[database]
        if connection.vendor != "sqlite":
            self.stdout.write(f"{connection.vendor} keeps its own statistics; nothing to do.")
            return
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        self.stdout.write("Statistics refreshed.")
