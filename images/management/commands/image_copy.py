from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from images import services
from images.cli import get_image_or_fail
from images.exceptions import ImageError
from images.tasks import location_copy_task
from stores.locations import redact


class Command(BaseCommand):
    help = "Copy an image's data into another store (verified against its checksums)."

    def add_arguments(self, parser):
        parser.add_argument("image_id")
        parser.add_argument("--store", required=True)
        parser.add_argument("--background", action="store_true",
                            help="queue the copy for the worker instead of copying now")

    def handle(self, *args, image_id, store, background, **opts):
        image = get_image_or_fail(image_id)
        try:
            services.store_get(store, writable=True)
        except ImageError as exc:
            raise CommandError(exc.message) from None
        if background:
            transaction.on_commit(lambda: location_copy_task.delay(image.id, store))
            self.stdout.write(f"Queued the copy of {image.id} to store '{store}'")
            return
        try:
            location = services.location_copy(image=image, store_name=store)
        except ImageError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(redact(location.value))
