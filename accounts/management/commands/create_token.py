import argparse
import re
from datetime import timedelta

from django.core.management.base import BaseCommand
from django.utils import timezone

from accounts import services

UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def lifetime(text):
    """`90m`, `12h`, `30d` as a timedelta; `never` as None."""
    if text.strip().lower() == "never":
        return None
    match = re.fullmatch(r"\s*([1-9][0-9]*)\s*([mhd])\s*", text.lower())
    if match is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a lifetime: a number with m, h or d (90m, 12h, 30d), or never")
    return timedelta(**{UNITS[match[2]]: int(match[1])})


class Command(BaseCommand):
    help = ("Issue an API token for USERNAME (created, with a project of its own, if missing). "
            "The token is printed alone on the last line; send it as X-Auth-Token. It expires "
            "after 24 hours unless --expires says otherwise.")

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--project", help="project of a new user (default: its username)")
        parser.add_argument("--admin", action="store_true", help="make a new user an admin")
        parser.add_argument("--expires", type=lifetime, default=services.TOKEN_LIFETIME,
                            metavar="LIFETIME",
                            help="how long the token works: 90m, 12h, 30d, or never "
                                 "(default: 24h)")

    def handle(self, *args, username, project, admin, expires, **options):
        user = services.user_ensure(username=username, project_name=project, admin=admin)
        secret = services.token_create(user=user, lifetime=expires)
        project_id = services.project_of(user)
        # Notices go to stderr: scripts take the token from the last line of stdout.
        if expires is None:
            self.stderr.write(
                "WARNING: this token never expires. Anyone who gets it acts as "
                f"{user.username} until an admin revokes it (admin: Accounts > Tokens).",
                style_func=self.style.WARNING)
            validity = "never expires"
        else:
            validity = f"expires {timezone.now() + expires:%Y-%m-%d %H:%M} UTC"
        self.stderr.write(f"Token for {user.username} (project {project_id}, {validity}):")
        self.stdout.write(secret)
