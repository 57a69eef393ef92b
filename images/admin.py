"""The auditor's view of the image tables. Location URIs are never typed by hand here."""
from django.contrib import admin

from images.models import Image, ImageLocation, ImageMember, ImageProperty, ImageTag
from stores.locations import redact


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
    list_filter = ("status", "visibility", "disk_format", "container_format")
    search_fields = ("id", "name", "owner", "checksum")
    readonly_fields = ("id", "status", "size", "virtual_size", "checksum", "os_hash_algo",
                       "os_hash_value", "created_at", "updated_at", "deleted", "deleted_at")
    inlines = [LocationInline, PropertyInline, TagInline]
    list_per_page = 50


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
