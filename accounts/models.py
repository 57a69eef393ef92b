"""Projects (the image `owner`), who belongs to which, and API tokens."""
import hashlib
import secrets
import uuid

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone


def new_project_id():
    # Keystone's project ids are 32 hex digits; image owners look the same here.
    return uuid.uuid4().hex


class Project(models.Model):
    """A tenant: images belong to a project, users act on behalf of one."""

    id = models.CharField(primary_key=True, max_length=64, default=new_project_id)
    name = models.CharField(max_length=255, unique=True)

    def __str__(self):
        return self.name


class Membership(models.Model):
    """The project a user acts for."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                related_name="membership")
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="memberships")

    def __str__(self):
        return f"{self.user} in {self.project}"


class ProjectQuota(models.Model):
    """An admin's override of the [quotas] defaults for one project.

    An empty field takes the default of the configuration; -1 is unlimited. Sizes are bytes.
    """

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="quota")
    image_size_total = models.BigIntegerField(
        null=True, blank=True, validators=[MinValueValidator(-1)],
        help_text="Bytes of image data (each image counted once, whatever its copies).")
    image_stage_total = models.BigIntegerField(
        null=True, blank=True, validators=[MinValueValidator(-1)],
        help_text="Bytes staged for glance-direct imports.")
    image_count_total = models.BigIntegerField(
        null=True, blank=True, validators=[MinValueValidator(-1)],
        help_text="Images, whatever their status (deleted ones excepted).")
    image_count_uploading = models.BigIntegerField(
        null=True, blank=True, validators=[MinValueValidator(-1)],
        help_text="Uploads, stages and imports in progress at once.")

    class Meta:
        verbose_name = "project quota"

    def __str__(self):
        return f"quotas of {self.project}"


class TokenQuerySet(models.QuerySet):
    def for_secret(self, secret):
        return self.filter(digest=Token.digest_of(secret)).select_related("user")


class Token(models.Model):
    """An API token, sent as `X-Auth-Token`. Only its SHA-256 and its last characters are
    stored; an empty `expires_at` means it never expires."""

    # Enough for an admin to tell a user's tokens apart, too few to help guess the other 60.
    TAIL_LENGTH = 4

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                             related_name="api_tokens")
    digest = models.CharField(max_length=64, unique=True)
    tail = models.CharField(max_length=TAIL_LENGTH, blank=True,
                            help_text="The secret's last characters (empty for tokens issued "
                                      "before they were kept).")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: never expires.")
    last_used_at = models.DateTimeField(null=True, blank=True)

    objects = TokenQuerySet.as_manager()

    def __str__(self):
        return f"token …{self.tail or '?'} of {self.user}"

    @staticmethod
    def digest_of(secret):
        return hashlib.sha256(secret.encode()).hexdigest()

    @classmethod
    def issue(cls, user, *, lifetime):
        """Create a token for `user` valid for `lifetime` (a timedelta, or None: forever).

        Returns (token, secret); the secret is not kept.
        """
        secret = secrets.token_hex(32)
        now = timezone.now()
        token = cls.objects.create(
            user=user, digest=cls.digest_of(secret), tail=secret[-cls.TAIL_LENGTH:],
            created_at=now, expires_at=None if lifetime is None else now + lifetime)
        return token, secret

    def is_expired(self, now=None):
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())
