from django.core.management.base import BaseCommand, CommandError

from images.exceptions import ImageError
from images.services.scrubber import image_restore, scrub_run


class Command(BaseCommand):
    help = ("Remove the data of deleted images whose scrub time has passed, and objects that "
            "interrupted uploads and imports left in the stores (glance-scrubber). With "
            "--restore ID, bring a pending_delete image back to active instead.")

    def add_arguments(self, parser):
        parser.add_argument("--restore", metavar="IMAGE_ID",
                            help="restore this pending_delete image to active")
        parser.add_argument("--dry-run", action="store_true",
                            help="print what would be removed; change nothing")

    def handle(self, *args, restore=None, dry_run=False, **opts):
        if restore:
            if dry_run:
                raise CommandError("--dry-run does not apply to --restore")
            try:
                image = image_restore(image_id=restore)
            except ImageError as exc:
                raise CommandError(exc.message) from None
            self.stdout.write(f"Restored {image.id} ({image.status})")
            return
        report = scrub_run(dry_run=dry_run)
        verb = "Would remove" if dry_run else "Removed"
        for image_id, store, location in report.removed:
            self.stdout.write(f"{verb} {location} (image {image_id}, store {store})")
        for image_id, store, location in report.failed:
            self.stderr.write(f"Not removed yet: {location} (image {image_id}, store {store})")
        for image_id in report.deleted_images:
            self.stdout.write(f"Image {image_id} is deleted")
        for image_id in report.waiting:
            self.stdout.write(f"Waiting for its scrub time: image {image_id}")
        for image_id in report.reset_uploads:
            verb_reset = "Would reset" if dry_run else "Reset"
            self.stdout.write(f"{verb_reset} interrupted upload of image {image_id} to queued")
        for _, store, location in report.leftovers:
            self.stdout.write(f"{verb} leftover {location} (store {store})")
        for _, store, detail in report.kept_leftovers:
            self.stdout.write(f"Kept {detail} (store {store})")
        if report.failed:
            raise CommandError(f"{len(report.failed)} location(s) could not be removed; "
                               "the next run tries again")
