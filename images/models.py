"""Image records on Glance's own tables and columns (see docs/glance-schema.sql).

Rows are soft-deleted as Glance does (`deleted`, `deleted_at`): an image id is never reused
(OSSN-0075), and the same models read an existing Glance database.
"""
import uuid

from django.db import models
from django.utils import timezone

from images.fields import JSONTextField

DISK_FORMATS = ["ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop"]
CONTAINER_FORMATS = ["ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed"]


def new_image_id():
    return str(uuid.uuid4())


class LiveManager(models.Manager):
    """Rows that are not soft-deleted."""

    def get_queryset(self):
        return super().get_queryset().filter(deleted=False)


class SoftDeleteModel(models.Model):
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted = models.BooleanField(default=False)

    objects = LiveManager()
    all_objects = models.Manager()

    class Meta:
        abstract = True
        base_manager_name = "all_objects"

    def save(self, *args, **kwargs):
        self.updated_at = timezone.now()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            kwargs["update_fields"] = {*update_fields, "updated_at"}
        super().save(*args, **kwargs)


class Image(SoftDeleteModel):
    """A disk image: its metadata, checksums and status. Its bytes live at its locations."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        SAVING = "saving"
        ACTIVE = "active"
        KILLED = "killed"
        DELETED = "deleted"
        PENDING_DELETE = "pending_delete"
        DEACTIVATED = "deactivated"
        UPLOADING = "uploading"
        IMPORTING = "importing"

    class Visibility(models.TextChoices):
        PUBLIC = "public"
        COMMUNITY = "community"
        SHARED = "shared"
        PRIVATE = "private"

    # Glance's domain model (glance/domain/__init__.py, Image._validate_status_transition).
    TRANSITIONS = {
        Status.QUEUED: {Status.SAVING, Status.UPLOADING, Status.IMPORTING, Status.ACTIVE,
                        Status.DELETED},
        Status.SAVING: {Status.ACTIVE, Status.KILLED, Status.DELETED, Status.QUEUED},
        Status.UPLOADING: {Status.IMPORTING, Status.QUEUED, Status.DELETED},
        Status.IMPORTING: {Status.ACTIVE, Status.DELETED, Status.QUEUED},
        Status.ACTIVE: {Status.PENDING_DELETE, Status.DELETED, Status.DEACTIVATED},
        Status.DEACTIVATED: {Status.ACTIVE, Status.DELETED},
        Status.KILLED: {Status.DELETED},
        Status.PENDING_DELETE: {Status.DELETED, Status.ACTIVE},
        Status.DELETED: set(),
    }

    id = models.CharField(primary_key=True, max_length=36, default=new_image_id)
    name = models.CharField(max_length=255, null=True, blank=True)
    size = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=30, choices=Status.choices, default=Status.QUEUED)
    disk_format = models.CharField(max_length=20, null=True, blank=True,
                                   choices=[(f, f) for f in DISK_FORMATS])
    container_format = models.CharField(max_length=20, null=True, blank=True,
                                        choices=[(f, f) for f in CONTAINER_FORMATS])
    checksum = models.CharField(max_length=32, null=True, blank=True)
    owner = models.CharField(max_length=255, null=True, blank=True)
    min_disk = models.IntegerField(default=0)
    min_ram = models.IntegerField(default=0)
    protected = models.BooleanField(default=False, db_default=False)
    virtual_size = models.BigIntegerField(null=True, blank=True)
    visibility = models.CharField(max_length=9, choices=Visibility.choices,
                                  default=Visibility.SHARED, db_default=Visibility.SHARED)
    os_hidden = models.BooleanField(default=False, db_default=False)
    os_hash_algo = models.CharField(max_length=64, null=True, blank=True)
    os_hash_value = models.CharField(max_length=128, null=True, blank=True)

    class Meta(SoftDeleteModel.Meta):
        db_table = "images"
        indexes = [
            models.Index(fields=["checksum"], name="checksum_image_idx"),
            models.Index(fields=["created_at"], name="created_at_image_idx"),
            models.Index(fields=["deleted"], name="ix_images_deleted"),
            models.Index(fields=["os_hash_value"], name="os_hash_value_image_idx"),
            models.Index(fields=["os_hidden"], name="os_hidden_image_idx"),
            models.Index(fields=["owner"], name="owner_image_idx"),
            models.Index(fields=["updated_at"], name="updated_at_image_idx"),
            models.Index(fields=["visibility"], name="visibility_image_idx"),
        ]

    def __str__(self):
        return f"{self.name or '(no name)'} ({self.id})"

    def can_become(self, status):
        return status in self.TRANSITIONS.get(self.status, set())


class ImageLocation(SoftDeleteModel):
    """Where one copy of an image's bytes lives: a URI (`value`) and its store (`meta_data`)."""

    class Status(models.TextChoices):
        ACTIVE = "active"
        PENDING_DELETE = "pending_delete"
        DELETED = "deleted"

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="locations",
                              db_index=False)
    value = models.TextField()
    meta_data = JSONTextField(null=True, blank=True, default=dict)
    status = models.CharField(max_length=30, choices=Status.choices, default=Status.ACTIVE,
                              db_default=Status.ACTIVE)

    class Meta(SoftDeleteModel.Meta):
        db_table = "image_locations"
        indexes = [
            models.Index(fields=["deleted"], name="ix_image_locations_deleted"),
            models.Index(fields=["image"], name="ix_image_locations_image_id"),
        ]

    def __str__(self):
        from stores.locations import redact

        return redact(self.value)

    @property
    def store(self):
        return (self.meta_data or {}).get("store", "")


class ImageProperty(SoftDeleteModel):
    """An extra ("custom") image property: a string value under a name."""

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="properties",
                              db_index=False)
    name = models.CharField(max_length=255)
    value = models.TextField(null=True, blank=True)

    class Meta(SoftDeleteModel.Meta):
        db_table = "image_properties"
        verbose_name_plural = "image properties"
        constraints = [
            models.UniqueConstraint(fields=["image", "name"],
                                    name="ix_image_properties_image_id_name"),
        ]
        indexes = [
            models.Index(fields=["deleted"], name="ix_image_properties_deleted"),
            models.Index(fields=["image"], name="ix_image_properties_image_id"),
        ]

    def __str__(self):
        return f"{self.name}={self.value}"


class ImageTag(SoftDeleteModel):
    """A tag on an image (set semantics)."""

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="tags",
                              db_index=False)
    value = models.CharField(max_length=255)

    class Meta(SoftDeleteModel.Meta):
        db_table = "image_tags"
        indexes = [
            models.Index(fields=["image"], name="ix_image_tags_image_id"),
            models.Index(fields=["image", "value"], name="ix_image_tags_image_id_tag_value"),
        ]

    def __str__(self):
        return self.value


class ImageMember(SoftDeleteModel):
    """A project an image is shared with, and whether that project accepted it."""

    class Status(models.TextChoices):
        PENDING = "pending"
        ACCEPTED = "accepted"
        REJECTED = "rejected"

    image = models.ForeignKey(Image, on_delete=models.CASCADE, related_name="members",
                              db_index=False)
    member = models.CharField(max_length=255)
    can_share = models.BooleanField(default=False)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING,
                              db_default=Status.PENDING)

    class Meta(SoftDeleteModel.Meta):
        db_table = "image_members"
        constraints = [
            models.UniqueConstraint(fields=["image", "member", "deleted_at"],
                                    name="image_members_image_id_member_deleted_at_key"),
        ]
        indexes = [
            models.Index(fields=["deleted"], name="ix_image_members_deleted"),
            models.Index(fields=["image"], name="ix_image_members_image_id"),
            models.Index(fields=["image", "member"], name="ix_image_members_image_id_member"),
        ]

    def __str__(self):
        return f"{self.member} ({self.status})"


class Task(models.Model):
    """An asynchronous job on an image (an import or a copy), on Glance's `tasks` table."""

    class Status(models.TextChoices):
        PENDING = "pending"
        PROCESSING = "processing"
        SUCCESS = "success"
        FAILURE = "failure"

    id = models.CharField(primary_key=True, max_length=36, default=new_image_id)
    type = models.CharField(max_length=30, default="api_image_import")
    status = models.CharField(max_length=30, choices=Status.choices, default=Status.PENDING)
    owner = models.CharField(max_length=255)
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted = models.BooleanField(default=False)
    image_id = models.CharField(max_length=36, null=True, blank=True, db_index=True)
    request_id = models.CharField(max_length=64, null=True, blank=True)
    user_id = models.CharField(max_length=64, null=True, blank=True)

    class Meta:
        db_table = "tasks"

    def __str__(self):
        return f"{self.type} {self.id} ({self.status})"


class TaskInfo(models.Model):
    """A task's input, result and progress message (Glance's `task_info`)."""

    task = models.OneToOneField(Task, primary_key=True, on_delete=models.CASCADE,
                                related_name="info", db_column="task_id")
    input = JSONTextField(null=True, blank=True, default=dict)
    result = JSONTextField(null=True, blank=True, default=dict)
    message = models.TextField(null=True, blank=True, default="")

    class Meta:
        db_table = "task_info"


class AuditFinding(models.Model):
    """What one audit found at one location, or an object in a store that no location
    references (a `leftover` of the portal's own, or a `foreign` object someone else wrote).

    The portal's own table, not Glance's: one row per check, so the last finding of a
    location and its history are both kept. `database` is the alias whose records were
    audited: the portal's own ("default") or an existing Glance database ("glance").
    """

    class Finding(models.TextChoices):
        OK = "ok"
        MISSING = "missing"
        SIZE_MISMATCH = "size_mismatch"
        CHECKSUM_MISMATCH = "checksum_mismatch"
        UNREACHABLE = "unreachable"
        # Findings before the write journal existed: an unreferenced object, whoever wrote it.
        ORPHAN = "orphan"
        UNKNOWN_STORE = "unknown_store"
        LEFTOVER = "leftover"
        FOREIGN = "foreign"

    image_id = models.CharField(max_length=36, null=True, blank=True, db_index=True)
    location_id = models.IntegerField(null=True, blank=True)
    store = models.CharField(max_length=64)
    location = models.TextField()
    finding = models.CharField(max_length=20, choices=Finding.choices)
    detail = models.TextField(blank=True, default="")
    deep = models.BooleanField(default=False)
    checked_at = models.DateTimeField(default=timezone.now, db_index=True)
    database = models.CharField(max_length=32, default="default", db_default="default")
    # The object's size in bytes, for leftover and foreign objects (what a removal confirms).
    size = models.BigIntegerField(null=True, blank=True)

    class Meta:
        db_table = "portal_audit_findings"
        ordering = ["-checked_at", "-id"]
        indexes = [
            models.Index(fields=["location_id", "checked_at"],
                         name="audit_location_checked_idx"),
        ]

    def __str__(self):
        return f"{self.finding}: {self.location}"


class StoreWrite(models.Model):
    """The write journal: one row per write into a store, made before its first byte.

    The only evidence that an object in a shared store is the portal's own: an object with
    no row here was written by someone else (a Glance, another tool, a person) and is never
    removed or overwritten automatically. A row is closed (`closed_at`, `outcome`) once the
    object is referenced (a location, or staged data recorded on its image) or removed.
    """

    class Purpose(models.TextChoices):
        UPLOAD = "upload"
        STAGE = "stage"
        WEB_DOWNLOAD = "web-download"
        IMPORT = "import"
        COPY = "copy"

    class Outcome(models.TextChoices):
        RECORDED = "recorded"      # a location (or the staging property) names the object
        REMOVED = "removed"        # the partial object (and its segments) was removed
        REFUSED = "refused"        # an object was already there: nothing was written

    store = models.CharField(max_length=64)
    key = models.CharField(max_length=255)
    # Where the object's segments go, when the store writes large objects in parts
    # ("<container>_segments/<key>/" for Swift): removed with the object.
    segments = models.CharField(max_length=512, blank=True, default="")
    image_id = models.CharField(max_length=36, db_index=True)
    purpose = models.CharField(max_length=20, choices=Purpose.choices)
    host = models.CharField(max_length=255, blank=True, default="")
    pid = models.IntegerField(null=True, blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    # Moved forward while the write goes on: a write still running is never a leftover,
    # however long ago it started.
    touched_at = models.DateTimeField(null=True, blank=True)
    # Set when the writer gave up with its partial object still there (the store failed to
    # remove it): the row stays open for the scrubber, but nothing writes any more.
    ended_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=20, choices=Outcome.choices, blank=True, default="")

    class Meta:
        db_table = "portal_store_writes"
        indexes = [
            models.Index(fields=["store", "key"], name="store_write_key_idx"),
            models.Index(fields=["closed_at", "started_at"], name="store_write_open_idx"),
        ]

    def __str__(self):
        return f"{self.purpose} of {self.image_id} into {self.store}/{self.key}"


class GlanceImage(Image):
    """Images as the admin shows them from an existing Glance database (the `glance` alias,
    read-only): a proxy, with no table of its own."""

    class Meta:
        proxy = True
        verbose_name = "image in the Glance database"
        verbose_name_plural = "images in the Glance database"
