"""Who may see, list and change which image through v1: the v2 rules (`images_visible_to`),
plus what v1 adds: admins see deleted images by id, and lists follow `is_public`."""
from django.db.models import Q

from images.api.common import check_owner
from images.models import Image, ImageMember
from images.selectors import image_get, images_visible_to

V = Image.Visibility


def image_visible(image_id, caller, *, deleted=False):
    """The image, if the caller may see it; NotFound otherwise (a 403 would tell it exists).

    With `deleted`, admins also see deleted images, as Glance v1 showed them to admins.
    """
    queryset = Image.all_objects.all() if deleted and caller.admin else None
    return image_get(image_id, queryset=images_visible_to(caller, queryset))


def image_modifiable(image_id, caller, *, deleted=False):
    """The image, if the caller may change it: 404 if unseen, 403 if seen but not theirs."""
    image = image_visible(image_id, caller, deleted=deleted)
    check_owner(caller, image)
    return image


def _own_or_shared(caller):
    if not caller.project:
        return Q(pk__in=[])
    accepted = ImageMember.objects.filter(member=caller.project,
                                          status=ImageMember.Status.ACCEPTED)
    return Q(owner=caller.project) | Q(visibility=V.SHARED, id__in=accepted.values("image_id"))


def listed(caller, is_public=True):
    """What a v1 list shows, as Glance v1's registry chose it.

    `is_public` True (the default): public images, the project's own and accepted shared
    ones (admins too); False: the non-public ones of those (admins: every non-public image);
    None (`--all-tenants`): all the caller may see (admins: every image). Other projects'
    community images are never listed.
    """
    if is_public is None:
        return Q() if caller.admin else Q(visibility=V.PUBLIC) | _own_or_shared(caller)
    if is_public is False:
        return ~Q(visibility=V.PUBLIC) & (Q() if caller.admin else _own_or_shared(caller))
    return Q(visibility=V.PUBLIC) | _own_or_shared(caller)
