from django.core.management.base import BaseCommand

from accounts import services


class Command(BaseCommand):
    help = ("Issue an API token for USERNAME (created, with a project of its own, if missing). "
            "The token is printed alone on the last line; send it as X-Auth-Token.")

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--project", help="project of a new user (default: its username)")
        parser.add_argument("--admin", action="store_true", help="make a new user an admin")

    def handle(self, *args, username, project, admin, **options):
        user = services.user_ensure(username=username, project_name=project, admin=admin)
        secret = services.token_create(user=user)
        project_id = services.project_of(user)
        self.stderr.write(f"Token for {user.username} (project {project_id}):")
        self.stdout.write(secret)
