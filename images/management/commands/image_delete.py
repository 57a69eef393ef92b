from django.core.management.base import BaseCommand, CommandError

from images import services
from images.cli import get_image_or_fail
from images.exceptions import ImageError


class Command(BaseCommand):
    help = "Delete images and their data in every store."

    def add_arguments(self, parser):
        parser.add_argument("image_ids", nargs="+", metavar="image_id")

    def handle(self, *args, image_ids, **opts):
        failed = 0
        for image_id in image_ids:
            try:
                image = services.image_delete(image=get_image_or_fail(image_id))
            except (ImageError, CommandError) as exc:
                failed += 1
                self.stderr.write(f"{image_id}: {getattr(exc, 'message', exc)}")
            else:
                pending = image.status == image.Status.PENDING_DELETE
                self.stdout.write(f"Deleted {image_id}" + (
                    " (pending_delete: its data stays until the scrubber runs; "
                    "`scrub --restore` brings it back)" if pending else ""))
        if failed:
            raise CommandError(f"{failed} of {len(image_ids)} image(s) not deleted")
