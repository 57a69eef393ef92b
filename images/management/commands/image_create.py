import os
import sys

from django.core.management.base import BaseCommand, CommandError

from images import services
from images.cli import image_table, owner_for
from images.exceptions import ImageError
from images.models import CONTAINER_FORMATS, DISK_FORMATS, Image
from images.representation import image_view


class Command(BaseCommand):
    help = "Create an image and, with --file, upload its data into a store."

    def add_arguments(self, parser):
        parser.add_argument("--name")
        parser.add_argument("--id", help="UUID for the new image (default: a new one)")
        parser.add_argument("--disk-format", choices=DISK_FORMATS)
        parser.add_argument("--container-format", choices=CONTAINER_FORMATS)
        parser.add_argument("--visibility", choices=Image.Visibility.values, default="shared")
        parser.add_argument("--protected", action="store_true")
        parser.add_argument("--min-disk", type=int, default=0, help="GB")
        parser.add_argument("--min-ram", type=int, default=0, help="MB")
        parser.add_argument("--property", action="append", default=[], metavar="KEY=VALUE")
        parser.add_argument("--tag", action="append", default=[])
        parser.add_argument("--file", help="image data to upload ('-' reads standard input)")
        parser.add_argument("--store", help="store to upload into (default: the default store)")
        parser.add_argument("--owner", help="project id owning the image")
        parser.add_argument("--user", default="admin",
                            help="user whose project owns the image (default: admin)")

    def handle(self, *args, **opts):
        properties = {}
        for item in opts["property"]:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise CommandError(f"--property wants KEY=VALUE, got {item!r}")
            properties[key] = value
        if opts["store"] and not opts["file"]:
            raise CommandError("--store needs --file: there is no data to store")
        if opts["store"]:
            try:  # before creating anything: an unknown store leaves no record behind
                services.store_get(opts["store"], writable=True)
            except ImageError as exc:
                raise CommandError(exc.message) from None
        owner = owner_for(owner=opts["owner"], username=opts["user"])
        data = self._open(opts["file"]) if opts["file"] else None
        try:
            image = services.image_create(
                owner=owner, id=opts["id"], name=opts["name"], disk_format=opts["disk_format"],
                container_format=opts["container_format"], visibility=opts["visibility"],
                protected=opts["protected"], min_disk=opts["min_disk"],
                min_ram=opts["min_ram"], tags=opts["tag"], properties=properties)
        except ImageError as exc:
            raise CommandError(exc.message) from None
        if data is not None:
            with data:
                size = None if data is sys.stdin.buffer else os.fstat(data.fileno()).st_size
                try:
                    services.image_upload(image=image, stream=data, store_name=opts["store"],
                                          expected_size=size)
                except BaseException as exc:
                    # The store kept nothing; drop the empty record too, as openstacksdk does.
                    services.image_delete(image=image)
                    if isinstance(exc, ImageError):
                        raise CommandError(f"{exc.message} (image {image.id} deleted)") from None
                    raise
        image.refresh_from_db()
        self.stdout.write(image_table(image_view(image)))

    def _open(self, path):
        if path == "-":
            return sys.stdin.buffer
        try:
            return open(path, "rb")
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}") from None
