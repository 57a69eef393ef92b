from django.contrib import admin

from metadefs.models import MetadefObject, MetadefProperty, MetadefTag, Namespace, ResourceType


class PropertyInline(admin.TabularInline):
    model = MetadefProperty
    fields = ("name", "json_schema")
    extra = 0


class ObjectInline(admin.TabularInline):
    model = MetadefObject
    fields = ("name", "description", "required", "json_schema")
    extra = 0


class TagInline(admin.TabularInline):
    model = MetadefTag
    fields = ("name",)
    extra = 0


@admin.register(Namespace)
class NamespaceAdmin(admin.ModelAdmin):
    """Namespaces with their properties, objects and tags; the resource types they apply to
    are shown, and changed through the API or load_metadefs."""

    list_display = ("namespace", "display_name", "visibility", "protected", "owner",
                    "resource_types")
    list_filter = ("visibility", "protected")
    search_fields = ("namespace", "display_name", "owner")
    readonly_fields = ("resource_types", "created_at", "updated_at")
    inlines = [PropertyInline, ObjectInline, TagInline]

    @admin.display(description="resource types")
    def resource_types(self, namespace):
        return ", ".join(
            f"{a.resource_type.name}" + (f" ({a.prefix})" if a.prefix else "")
            for a in namespace.resource_type_associations.select_related("resource_type"))


@admin.register(ResourceType)
class ResourceTypeAdmin(admin.ModelAdmin):
    list_display = ("name", "protected", "created_at")
    search_fields = ("name",)

    def has_delete_permission(self, request, obj=None):
        return obj is None or not obj.protected
