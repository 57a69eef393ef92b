from django.core.management.base import BaseCommand

from images.cli import get_image_or_fail, table
from images.models import ImageLocation
from stores.locations import redact


class Command(BaseCommand):
    help = ("Print where an image's data lives: one location URI a line, as "
            "`select value from image_locations where image_id = ID` (live locations only, "
            "unless --all).")

    def add_arguments(self, parser):
        parser.add_argument("image_id")
        parser.add_argument("--all", action="store_true", help="include deleted locations")
        parser.add_argument("--long", action="store_true",
                            help="a table with each location's store and status")

    def handle(self, *args, image_id, **opts):
        image = get_image_or_fail(image_id)
        rows = ImageLocation.all_objects.filter(image=image).order_by("id")
        if not opts["all"]:
            rows = rows.filter(deleted=False)
        if opts["long"]:
            self.stdout.write(table([(redact(r.value), r.store, r.status) for r in rows],
                                    ("Location", "Store", "Status")))
            return
        for row in rows:
            self.stdout.write(redact(row.value))
