"""Users, their projects and their tokens."""
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import transaction

from accounts.models import Membership, Project, Token


def project_of(user):
    """The id of the project `user` acts for, or None."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    try:
        return user.membership.project_id
    except Membership.DoesNotExist:
        return None


@transaction.atomic
def user_ensure(*, username, project_name=None, admin=False):
    """Return the user `username`, created (with a project) if missing.

    A new user gets the project `project_name`, made if needed (default: a project named
    after the user).
    """
    User = get_user_model()
    user, created = User.objects.get_or_create(username=username)
    if created:
        user.set_unusable_password()
        user.is_staff = user.is_superuser = admin
        user.save()
    if project_of(user) is None:
        project, _ = Project.objects.get_or_create(name=project_name or username)
        Membership.objects.create(user=user, project=project)
    return user


# A day: long enough for a working session or a benchmark run, short enough that a token
# left in a shell history or a CI log soon stops working.
TOKEN_LIFETIME = timedelta(hours=24)


def token_create(*, user, lifetime=TOKEN_LIFETIME):
    """Issue a new API token for `user`, valid for `lifetime` (None: never expires).

    Returns the secret to hand out; only its digest is kept.
    """
    _, secret = Token.issue(user, lifetime=lifetime)
    return secret
