import os
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts import services


def write_secret_file(path, text):
    """Write `text` to a new file `path` that only its owner can read.

    A file left from an earlier database is replaced. O_EXCL creates the file with mode 0600
    from the start, where a chmod after writing would leave it readable for a moment, and
    refuses to follow a symlink planted at `path`.
    """
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text + "\n")


class Command(BaseCommand):
    help = ("Create the superuser 'admin' (project 'admin') if there is none. Its password is "
            "DJANGO_SUPERUSER_PASSWORD, or else a random one written to the file "
            "<data folder>/admin-password, readable by its owner only.")

    def handle(self, *args, **opts):
        if get_user_model().objects.filter(username="admin").exists():
            return
        given = settings.ADMIN_INITIAL_PASSWORD
        password = given or secrets.token_urlsafe(12)
        path = settings.DATA_DIR / "admin-password"
        # The file is written before the user is committed: if writing fails, no admin is
        # left with a password nobody knows, and the next run tries again.
        with transaction.atomic():
            user = services.user_ensure(username="admin", project_name="admin", admin=True)
            user.set_password(password)
            user.save()
            if not given:
                # Not printed: a terminal's scrollback, a CI log or journald would keep it
                # for anyone who reads them.
                write_secret_file(path, password)
        if given:
            self.stdout.write("Created user 'admin' with the password in DJANGO_SUPERUSER_PASSWORD.")
        else:
            self.stdout.write(f"Created user 'admin'; its password is in {path} (readable by "
                              "its owner only). Sign in, change it in the admin, then delete "
                              "the file.")
