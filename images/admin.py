"""The auditor's view of the image tables. Location URIs are never typed by hand here."""
from functools import partial

from django.conf import settings
from django.contrib import admin, messages
from django.db import transaction
from django.db.models import Q

from images import services
from images.exceptions import ImageError
from images.models import (AuditFinding, GlanceImage, Image, ImageLocation, ImageMember,
                           ImageProperty, ImageTag, StoreWrite, Task)
from images.selectors import Caller
from images.services.imports import image_import
from images.tasks import image_import_task
from stores.locations import redact
from stores.registry import all_stores


class StoreFilter(admin.SimpleListFilter):
    """Images with a live copy in the chosen store."""

    title = "store"
    parameter_name = "store"

    def lookups(self, request, model_admin):
        return [(store.name, store.name) for store in all_stores()]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        return queryset.filter(id__in=ImageLocation.objects.filter(
            status=ImageLocation.Status.ACTIVE,
            meta_data__contains=f'"store": "{self.value()}"').values("image_id"))


def _copy_to(store, modeladmin, request, queryset):
    caller = Caller.of_request(request)
    for image in queryset:
        try:
            task = image_import(image=image, caller=caller, body={
                "method": {"name": "copy-image"}, "stores": [store],
                "all_stores_must_succeed": False})
        except ImageError as exc:
            modeladmin.message_user(request, f"{image}: {exc.message}", messages.ERROR)
            continue
        transaction.on_commit(partial(image_import_task.delay, task.id))
        modeladmin.message_user(request, f"{image}: copying to {store}")


def _remove_from(store, modeladmin, request, queryset):
    for image in queryset:
        try:
            services.location_delete(image=image, store_name=store)
        except ImageError as exc:
            modeladmin.message_user(request, f"{image}: {exc.message}", messages.ERROR)
        else:
            modeladmin.message_user(request, f"{image}: removed from {store}")


@admin.action(description="Restore (pending_delete → active)")
def restore_images(modeladmin, request, queryset):
    from images.services.scrubber import image_restore

    for image in queryset:
        try:
            image_restore(image_id=image.id)
        except ImageError as exc:
            modeladmin.message_user(request, f"{image}: {exc.message}", messages.ERROR)
        else:
            modeladmin.message_user(request, f"{image}: restored")


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class LocationInline(ReadOnlyInline):
    model = ImageLocation
    fields = ("uri", "store", "status", "created_at")
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).order_by("id")

    @admin.display(description="location")
    def uri(self, obj):
        return redact(obj.value)


class PropertyInline(ReadOnlyInline):
    model = ImageProperty
    fields = readonly_fields = ("name", "value")


class TagInline(ReadOnlyInline):
    model = ImageTag
    fields = readonly_fields = ("value",)


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "status", "disk_format", "size", "visibility", "owner",
                    "updated_at")
    list_filter = ("status", StoreFilter, "visibility", "owner", "disk_format",
                   "container_format")
    search_fields = ("id", "name", "owner", "checksum")
    readonly_fields = ("id", "status", "size", "virtual_size", "checksum", "os_hash_algo",
                       "os_hash_value", "created_at", "updated_at", "deleted", "deleted_at")
    inlines = [LocationInline, PropertyInline, TagInline]
    list_per_page = 50

    def get_queryset(self, request):
        """Live images and those waiting for the scrubber, which an admin may restore."""
        return Image.all_objects.filter(
            Q(deleted=False) | Q(status=Image.Status.PENDING_DELETE))

    def delete_model(self, request, obj):
        # Through the service, as the API deletes: data removed (or pending_delete with
        # delayed delete), the row kept so the id is never reused.
        try:
            services.image_delete(image=obj)
        except ImageError as exc:
            self.message_user(request, f"{obj}: {exc.message}", messages.ERROR)

    def delete_queryset(self, request, queryset):
        for image in queryset.filter(deleted=False):
            self.delete_model(request, image)

    def get_actions(self, request):
        """One 'copy to' and one 'remove from' action per writable store: the same services
        the API and the portal call; and restore for images waiting for the scrubber."""
        actions = super().get_actions(request)
        actions["restore_images"] = (restore_images, "restore_images",
                                     restore_images.short_description)
        for store in all_stores():
            if store.read_only:
                continue
            for verb, function in (("copy", _copy_to), ("remove", _remove_from)):
                name = f"{verb}_{store.name}"
                label = (f"Copy to store {store.name}" if verb == "copy"
                         else f"Remove the copy in store {store.name}")
                actions[name] = (partial(function, store.name), name, label)
        return actions


@admin.register(ImageLocation)
class ImageLocationAdmin(admin.ModelAdmin):
    """`select value from image_locations where image_id = ...` as a page."""

    list_display = ("image_id", "uri", "store", "status", "created_at")
    list_filter = ("status",)
    search_fields = ("image__id",)
    list_select_related = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="location")
    def uri(self, obj):
        return redact(obj.value)


@admin.register(ImageMember)
class ImageMemberAdmin(admin.ModelAdmin):
    list_display = ("image_id", "member", "status", "created_at")
    list_filter = ("status",)
    search_fields = ("image__id", "member")
    raw_id_fields = ("image",)


@admin.register(AuditFinding)
class AuditFindingAdmin(admin.ModelAdmin):
    """Every audit result, newest first: filter by finding and store to see the problems."""

    list_display = ("checked_at", "database", "finding", "store", "image_id", "location",
                    "size", "detail", "deep")
    list_filter = ("database", "finding", "store", "deep")
    search_fields = ("image_id", "location")
    date_hierarchy = "checked_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(StoreWrite)
class StoreWriteAdmin(AuditFindingAdmin):
    """The write journal, read-only: which objects in the stores this portal wrote, and
    what became of each write (open: still running, or interrupted)."""

    list_display = ("started_at", "store", "key", "image_id", "purpose", "host", "pid",
                    "touched_at", "closed_at", "outcome")
    list_filter = ("store", "purpose", "outcome")
    search_fields = ("image_id", "key")
    date_hierarchy = "started_at"

    def has_delete_permission(self, request, obj=None):
        return False  # the only evidence that an object is the portal's own


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows the services write: shown, searched and filtered, never edited by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ImageProperty)
class ImagePropertyAdmin(ReadOnlyAdmin):
    list_display = ("image_id", "name", "value", "deleted")
    list_filter = ("deleted", "name")
    search_fields = ("image__id", "name", "value")


@admin.register(ImageTag)
class ImageTagAdmin(ReadOnlyAdmin):
    list_display = ("image_id", "value", "deleted")
    list_filter = ("deleted",)
    search_fields = ("image__id", "value")


@admin.register(Task)
class TaskAdmin(ReadOnlyAdmin):
    """Imports and copies (Glance's tasks table), with their progress message."""

    list_display = ("id", "type", "status", "image_id", "owner", "message", "updated_at")
    list_filter = ("status", "type")
    search_fields = ("id", "image_id")

    @admin.display(description="message")
    def message(self, obj):
        return obj.info.message if hasattr(obj, "info") else ""


class GlanceReadOnly:
    """Reads the `glance` alias and changes nothing there."""

    def get_queryset(self, request):
        return super().get_queryset(request).using("glance")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class GlanceLocationInline(GlanceReadOnly, LocationInline):
    pass


class GlancePropertyInline(GlanceReadOnly, PropertyInline):
    pass


class GlanceTagInline(GlanceReadOnly, TagInline):
    pass


class GlanceImageAdmin(GlanceReadOnly, admin.ModelAdmin):
    """An existing Glance database's images beside the portal's own, with the same filters."""

    list_display = ImageAdmin.list_display
    list_filter = ("status", "visibility", "owner", "disk_format", "container_format")
    search_fields = ImageAdmin.search_fields
    inlines = [GlanceLocationInline, GlancePropertyInline, GlanceTagInline]
    list_per_page = 50

    def get_actions(self, request):
        return {}


# Shown only when GLANCE_DATABASE_URL names a Glance database.
if "glance" in settings.DATABASES:
    admin.site.register(GlanceImage, GlanceImageAdmin)
