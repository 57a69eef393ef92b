from django.contrib import admin

from accounts.models import Membership, Project, ProjectQuota, Token


class ProjectQuotaInline(admin.StackedInline):
    """Limits of this project; an empty field takes the [quotas] default, -1 is unlimited."""

    model = ProjectQuota
    max_num = 1
    can_delete = True
    verbose_name_plural = "quotas (empty: the configuration's default; -1: unlimited)"


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ("name", "id")
    search_fields = ("name", "id")
    inlines = [ProjectQuotaInline]


@admin.register(ProjectQuota)
class ProjectQuotaAdmin(admin.ModelAdmin):
    list_display = ("project", "image_size_total", "image_stage_total", "image_count_total",
                    "image_count_uploading")
    search_fields = ("project__name", "project__id")


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
