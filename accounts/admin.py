from django.contrib import admin

from accounts.models import Membership, Project, Token


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ("name", "id")
    search_fields = ("name", "id")


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "project")
    search_fields = ("user__username", "project__name")


@admin.register(Token)
class TokenAdmin(admin.ModelAdmin):
    """Tokens are issued with `manage.py create_token`; here they can only be revoked."""

    list_display = ("user", "created_at", "last_used_at")
    readonly_fields = ("user", "digest", "created_at", "last_used_at")

    def has_add_permission(self, request):
        return False
