from django.core.management.base import BaseCommand

from images.cli import get_image_or_fail, image_table
from images.representation import image_view


class Command(BaseCommand):
    help = "Show an image's properties."

    def add_arguments(self, parser):
        parser.add_argument("image_id")

    def handle(self, *args, image_id, **opts):
        image = get_image_or_fail(image_id)
        self.stdout.write(image_table(image_view(image)))
