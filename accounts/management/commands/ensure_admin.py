import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from accounts import services


class Command(BaseCommand):
    help = ("Create the superuser 'admin' (project 'admin') if there is none, and print its "
            "password once. DJANGO_SUPERUSER_PASSWORD sets the password.")

    def handle(self, *args, **opts):
        if get_user_model().objects.filter(username="admin").exists():
            return
        user = services.user_ensure(username="admin", project_name="admin", admin=True)
        password = settings.ADMIN_INITIAL_PASSWORD or secrets.token_urlsafe(12)
        user.set_password(password)
        user.save()
        if settings.ADMIN_INITIAL_PASSWORD:
            self.stdout.write("Created user 'admin' with the password in DJANGO_SUPERUSER_PASSWORD.")
        else:
            self.stdout.write(f"Created user 'admin' with password: {password}\n"
                              "(shown once; change it in the admin)")
