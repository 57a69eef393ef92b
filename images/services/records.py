"""Image records: create, update, tags, members, deactivate."""
import logging
import uuid

from django.db import transaction
from django.utils import timezone

from images.exceptions import Conflict, Forbidden, Invalid, NotFound, TooLarge
from images.models import (CONTAINER_FORMATS, DISK_FORMATS, Image, ImageMember,
                           ImageProperty, ImageTag)
from images.selectors import is_uuid, reference_aliases
from images.services.properties import property_drop, property_set
from images.services.quotas import check_image_create
from stores.exceptions import StoreError
from stores.registry import all_stores

logger = logging.getLogger(__name__)

Status = Image.Status
# Glance's per-image quotas (image_property_quota, image_tag_quota, image_member_quota).
PROPERTY_QUOTA = TAG_QUOTA = MEMBER_QUOTA = 128


def _check_choice(field, value, allowed):
    if value is not None and value not in allowed:
        raise Invalid(f"Invalid value '{value}' for {field}: allowed values are "
                      f"{', '.join(allowed)}")


@transaction.atomic
def _check_new_id(image_id):
    """A client-chosen id: a canonical UUID that names nothing yet, here or in a shared store.

    Ids are never reused, not even those of deleted images (OSSN-0075). An image id is also
    its objects' name in every store, and stores are shared: an id that a Glance database
    holds, or under which some store already keeps an object (a Glance image not imported
    yet: its id is public), would have this portal write over someone else's data.
    """
    if not is_uuid(image_id) or str(uuid.UUID(image_id)) != image_id:
        raise Invalid(f"Invalid image id '{image_id}': it must be a UUID in canonical form "
                      "(lower-case hexadecimal, 8-4-4-4-12)")
    if any(Image.all_objects.using(alias).filter(pk=image_id).exists()
           for alias in reference_aliases()):
        raise Conflict(f"Image with identifier {image_id} already exists!")
    for store in all_stores():
        if store.read_only:
            continue
        try:
            taken = store.exists(store.uri_for(image_id))
        except StoreError:
            # The write itself never replaces an object (exclusive create): a store that
            # cannot answer now is checked again, safely, when data is written.
            logger.warning("store %s: could not check for an object %s", store.name, image_id)
            continue
        if taken:
            raise Conflict(f"Store '{store.name}' already holds an object named {image_id}, "
                           "which is not this portal's: choose another id")


def image_create(*, owner, id=None, name=None, disk_format=None, container_format=None,
                 visibility=Image.Visibility.SHARED, protected=False, os_hidden=False,
                 min_disk=0, min_ram=0, tags=(), properties=None):
    """Create a `queued` image record (no data yet)."""
    _check_choice("disk_format", disk_format, DISK_FORMATS)
    _check_choice("container_format", container_format, CONTAINER_FORMATS)
    _check_choice("visibility", visibility, Image.Visibility.values)
    for field, value in (("min_disk", min_disk), ("min_ram", min_ram)):
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**31:
            raise Invalid(f"{field} must be a non-negative integer below 2^31")
    if name is not None and len(name) > 255:
        raise Invalid("name is longer than 255 characters")
    tags, properties = sorted(set(tags)), properties or {}
    # The per-image quotas hold from the first write, as image_update holds them: checked
    # before any row is written, so an oversized request costs nothing.
    if len(properties) > PROPERTY_QUOTA:
        raise TooLarge(f"Maximum number of properties ({PROPERTY_QUOTA}) exceeded")
    if len(tags) > TAG_QUOTA:
        raise TooLarge(f"Maximum number of tags ({TAG_QUOTA}) exceeded")
    if any(len(tag) > 255 for tag in tags):
        raise Invalid("A tag is longer than 255 characters")
    if any(len(key) > 255 for key in properties):
        raise Invalid("A property name is longer than 255 characters")
    if id is not None:
        _check_new_id(id)
    image = Image(owner=owner, name=name, disk_format=disk_format,
                  container_format=container_format, visibility=visibility,
                  protected=protected, os_hidden=os_hidden, min_disk=min_disk, min_ram=min_ram,
                  status=Status.QUEUED)
    if id is not None:
        image.id = id
    check_image_create(owner)
    with transaction.atomic():
        image.save(force_insert=True)
        for tag in tags:
            ImageTag.objects.create(image=image, value=tag)
        for key, value in properties.items():
            ImageProperty.objects.create(image=image, name=key, value=value)
    return image


@transaction.atomic
def image_update(*, image, changes=None, set_properties=None, remove_properties=(),
                 tags=None):
    """Apply base-field changes, extra properties and a new tag list in one transaction."""
    changes = changes or {}
    for field, value in changes.items():
        if field == "disk_format":
            _check_choice(field, value, DISK_FORMATS)
        if field == "container_format":
            _check_choice(field, value, CONTAINER_FORMATS)
        if field in ("disk_format", "container_format") and value != getattr(image, field) \
                and image.status not in (Status.QUEUED,):
            raise Forbidden(f"Attribute {field} can be only replaced for a queued image.")
        setattr(image, field, value)
    if changes:
        image.save(update_fields=list(changes))
    now = timezone.now()
    for name in remove_properties:
        if not property_drop(image, name):
            raise Conflict(f"Property {name} does not exist.")
    for name, value in (set_properties or {}).items():
        property_set(image, name, value)
    if ImageProperty.objects.filter(image=image).count() > PROPERTY_QUOTA:
        raise TooLarge(f"Maximum number of properties ({PROPERTY_QUOTA}) exceeded")
    if tags is not None:
        _tags_replace(image, tags)
    if not changes:
        Image.objects.filter(pk=image.pk).update(updated_at=now)
    return image


def _tags_replace(image, tags):
    tags = set(tags)
    if len(tags) > TAG_QUOTA:
        raise TooLarge(f"Maximum number of tags ({TAG_QUOTA}) exceeded")
    current = set(ImageTag.objects.filter(image=image).values_list("value", flat=True))
    now = timezone.now()
    ImageTag.objects.filter(image=image, value__in=current - tags).update(
        deleted=True, deleted_at=now)
    for value in sorted(tags - current):
        ImageTag.objects.create(image=image, value=value)


@transaction.atomic
def tag_add(*, image, value):
    if len(value) > 255:
        raise Invalid("Tag is longer than 255 characters")
    if not ImageTag.objects.filter(image=image, value=value).exists():
        if ImageTag.objects.filter(image=image).count() >= TAG_QUOTA:
            raise TooLarge(f"Maximum number of tags ({TAG_QUOTA}) exceeded")
        ImageTag.objects.create(image=image, value=value)
    Image.objects.filter(pk=image.pk).update(updated_at=timezone.now())


@transaction.atomic
def tag_remove(*, image, value):
    now = timezone.now()
    if not ImageTag.objects.filter(image=image, value=value).update(deleted=True, deleted_at=now):
        raise NotFound(f"Tag {value} not found")
    Image.objects.filter(pk=image.pk).update(updated_at=now)


def _switch(image, *, source, target, verb):
    if image.status == target:
        return image
    if image.status != source:
        raise Forbidden(f"Only {source} images can be {verb}d")
    updated = Image.objects.filter(pk=image.pk, status=source).update(
        status=target, updated_at=timezone.now())
    if not updated:
        raise Conflict("The image changed status; try again")
    image.status = target
    return image


def image_deactivate(*, image):
    return _switch(image, source=Status.ACTIVE, target=Status.DEACTIVATED, verb="deactivate")


def image_reactivate(*, image):
    return _switch(image, source=Status.DEACTIVATED, target=Status.ACTIVE, verb="reactivate")


@transaction.atomic
def member_create(*, image, member):
    if image.visibility != Image.Visibility.SHARED:
        raise Forbidden(f"Image members can only be added to images with visibility shared "
                        f"(this one is {image.visibility})")
    if not isinstance(member, str) or not member or len(member) > 255:
        raise Invalid("member must be a project id")
    if ImageMember.objects.filter(image=image, member=member).exists():
        raise Conflict(f"Member {member} already exists on image {image.id}")
    if ImageMember.objects.filter(image=image).count() >= MEMBER_QUOTA:
        raise TooLarge(f"Maximum number of image members ({MEMBER_QUOTA}) exceeded")
    return ImageMember.objects.create(image=image, member=member)


def member_update(*, member, status):
    if status not in ImageMember.Status.values:
        raise Invalid(f"Invalid status {status!r}: one of {', '.join(ImageMember.Status.values)}")
    member.status = status
    member.save(update_fields=["status"])
    return member


def member_delete(*, member):
    now = timezone.now()
    member.deleted, member.deleted_at = True, now
    member.save(update_fields=["deleted", "deleted_at"])
