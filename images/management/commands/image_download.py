import os
import sys

from django.core.management.base import BaseCommand, CommandError

from images import services
from images.cli import get_image_or_fail
from images.exceptions import ImageError


class Command(BaseCommand):
    help = "Write an image's data to a file (or standard output), from the best location."

    def add_arguments(self, parser):
        parser.add_argument("image_id")
        parser.add_argument("--file", help="where to write (default: standard output)")
        parser.add_argument("--prefer", default="",
                            help="comma-separated stores to try first")

    def handle(self, *args, image_id, **opts):
        image = get_image_or_fail(image_id)
        prefer = [s for s in opts["prefer"].split(",") if s]
        try:
            reader, location = services.image_download(image=image, prefer=prefer)
        except ImageError as exc:
            raise CommandError(exc.message) from None
        target = sys.stdout.buffer if not opts["file"] else None
        path = opts["file"]
        try:
            with reader:
                if target is not None:
                    for chunk in reader:
                        target.write(chunk)
                    target.flush()
                    return
                with open(path + ".part", "wb") as out:
                    for chunk in reader:
                        out.write(chunk)
                os.replace(path + ".part", path)
        except BaseException:
            if path and os.path.exists(path + ".part"):
                os.remove(path + ".part")
            raise
        self.stderr.write(f"Wrote {image.size} bytes from store '{location.store}' to {path}")
