"""Read-only queries over images."""
import uuid

from django.conf import settings
from django.db.models import CharField, F, Func, Q

from images.exceptions import NotFound
from images.models import Image, ImageLocation, ImageMember


GLANCE_ALIAS = "glance"


class OrEmpty(Func):
    """COALESCE(column, '') with the '' written into the SQL: SQLite uses an expression
    index (images_name_sort_idx) only for the same text, and a bound parameter is not."""

    template = "COALESCE(%(expressions)s, '')"
    output_field = CharField()


def reference_aliases():
    """The databases whose records say which objects in the stores are in use: the portal's
    own, and the Glance database when one is configured (its objects are in use whether or
    not they have been imported)."""
    return ["default"] + ([GLANCE_ALIAS] if GLANCE_ALIAS in settings.DATABASES else [])


def is_uuid(value):
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return len(str(value)) == 36


def image_get(image_id, *, queryset=None):
    """The live image with that id; NotFound for a deleted, missing or non-UUID id."""
    if not is_uuid(image_id):
        raise NotFound(f"No image found with ID {image_id}")
    queryset = Image.objects.all() if queryset is None else queryset
    try:
        return queryset.get(pk=str(image_id).lower())
    except Image.DoesNotExist:
        raise NotFound(f"No image found with ID {image_id}") from None


def image_locations(image):
    """The image's live locations, in the order they were added (Glance's `stores` order)."""
    return list(image.locations.filter(deleted=False).order_by("id"))


def image_store_names(image, *, locations=None):
    """The stores holding the image's active locations, sorted: Glance's `stores` field is
    compared as text (Tempest checks it after an import into several stores)."""
    locations = image_locations(image) if locations is None else locations
    return sorted({location.store for location in locations
                   if location.status == location.Status.ACTIVE and location.store})


class Caller:
    """Who is asking: the user, the project they act for, their roles, and whether they are
    an admin (Glance's context_is_admin: the admin role)."""

    def __init__(self, *, user=None, project=None, admin=False, roles=None):
        self.user = user
        self.project = project
        self.admin = admin
        self.roles = frozenset(roles if roles is not None else LOCAL_ROLES + (
            ("admin",) if admin else ()))

    @property
    def user_id(self):
        return None if self.user is None else str(self.user.pk)

    @classmethod
    def of(cls, user):
        from accounts.services import project_of

        if user is None or not getattr(user, "is_authenticated", False):
            return cls(roles=())
        if getattr(user, "keystone", False):
            return cls(user=user, project=user.project_id, admin=user.is_superuser,
                       roles=user.roles)
        return cls(user=user, project=project_of(user), admin=bool(user.is_superuser))

    @classmethod
    def of_request(cls, request):
        """The caller of a portal page: the Keystone user the session's token names when the
        portal signs in through Keystone, else the signed-in local user."""
        from accounts.identity import IDENTITY

        keystone_user = request.META.get(IDENTITY)
        return cls.of(keystone_user if keystone_user is not None else request.user)


# A local user (no Keystone) reads and writes in its project, as Keystone's member role
# (which implies reader) lets it.
LOCAL_ROLES = ("reader", "member")


def _member_of(project, statuses=None):
    members = ImageMember.objects.filter(member=project)
    if statuses is not None:
        members = members.filter(status__in=statuses)
    return members.values("image_id")


def images_visible_to(caller, queryset=None):
    """Every live image the caller may look at by id (Glance's visibility rules)."""
    queryset = Image.objects.all() if queryset is None else queryset
    if caller.admin:
        return queryset
    V = Image.Visibility
    visible = Q(visibility__in=[V.PUBLIC, V.COMMUNITY])
    if caller.project:
        visible |= Q(owner=caller.project)
        visible |= Q(visibility=V.SHARED, id__in=_member_of(caller.project))
    return queryset.filter(visible)


def image_get_visible(image_id, caller):
    """The image if the caller may see it; NotFound otherwise (never 403: that would tell)."""
    return image_get(image_id, queryset=images_visible_to(caller))


def images_listed_for(caller, *, visibility=None, member_status="accepted"):
    """The images a list shows, before filters: with no `visibility`, public + own +
    accepted shared, never other projects' community images; admins list everything."""
    V = Image.Visibility
    queryset = Image.objects.exclude(status=Image.Status.KILLED)
    if caller.admin:
        return queryset if visibility in (None, "all") else queryset.filter(visibility=visibility)
    statuses = None if member_status == "all" else [member_status]
    own = Q(owner=caller.project) if caller.project else Q(pk__in=[])
    shared = (Q(visibility=V.SHARED, id__in=_member_of(caller.project, statuses))
              if caller.project else Q(pk__in=[]))
    if visibility is None:
        return queryset.filter(Q(visibility=V.PUBLIC) | own | shared)
    if visibility == "all":
        return queryset.filter(Q(visibility__in=[V.PUBLIC, V.COMMUNITY]) | own | shared)
    if visibility == V.SHARED:
        return queryset.filter(visibility=V.SHARED).filter(own | shared)
    if visibility == V.PRIVATE:
        return queryset.filter(visibility=V.PRIVATE).filter(own)
    return queryset.filter(visibility=visibility)


PORTAL_SORTS = {"name", "status", "disk_format", "size", "visibility", "updated_at",
                "created_at"}


def images_for_portal(caller, *, q="", status="", store="", visibility="", disk_format="",
                      sort="updated_at", direction="desc", using="default"):
    """The images page's queryset: what the caller may see, searched, filtered and sorted
    (`using`: the portal's database, or a Glance database read through its alias)."""
    rows = Image.objects.using(using)
    if caller.admin and status == Image.Status.PENDING_DELETE:
        # Soft-deleted, yet an admin may restore them until the scrubber has been.
        rows = Image.all_objects.using(using)
    queryset = images_visible_to(caller, rows).exclude(status=Image.Status.KILLED)
    if q:
        queryset = queryset.filter(Q(name__icontains=q) | Q(id__startswith=q.lower()))
    if status:
        queryset = queryset.filter(status=status)
    if visibility:
        queryset = queryset.filter(visibility=visibility)
    if disk_format:
        queryset = queryset.filter(disk_format=disk_format)
    if store:
        # meta_data is JSON text; the portal writes it as {"store": "NAME"}.
        queryset = queryset.filter(id__in=ImageLocation.objects.using(using).filter(
            status=ImageLocation.Status.ACTIVE,
            meta_data__contains=f'"store": "{store}"').values("image_id"))
    sort = sort if sort in PORTAL_SORTS else "updated_at"
    prefix = "" if direction == "asc" else "-"
    if sort == "name":
        # The API's name order, which images_name_sort_idx serves (a missing name as '').
        key = OrEmpty(F("name"))
        return queryset.order_by(key.asc() if direction == "asc" else key.desc(),
                                 f"{prefix}created_at", f"{prefix}id")
    return queryset.order_by(f"{prefix}{sort}", f"{prefix}id")


def store_usage(caller):
    """{store name: (image count, bytes)} over the live locations of the images the caller
    may see (all of them for an admin)."""
    usage = {}
    rows = ImageLocation.objects.filter(
        status=ImageLocation.Status.ACTIVE,
        image__in=images_visible_to(caller).values("id")).values_list("meta_data",
                                                                      "image__size")
    for meta_data, size in rows.iterator():
        name = (meta_data or {}).get("store", "")
        count, total = usage.get(name, (0, 0))
        usage[name] = (count + 1, total + (size or 0))
    return usage
