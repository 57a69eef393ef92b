from django.contrib import admin
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html

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


class TokenStateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("valid", "valid"), ("expired", "expired"), ("never", "never expires")]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "valid":
            return queryset.filter(expires_at__gt=now)
        if self.value() == "expired":
            return queryset.filter(expires_at__lte=now)
        if self.value() == "never":
            return queryset.filter(expires_at__isnull=True)
        return queryset


@admin.register(Token)
class TokenAdmin(admin.ModelAdmin):
    """Tokens are issued with `manage.py create_token`; here they are listed and revoked
    (deleted). Neither the secret nor its digest is shown, only the secret's last characters."""

    list_display = ("key", "user", "project", "created_at", "expires", "expired", "last_used_at")
    list_filter = (TokenStateFilter,)
    list_select_related = ("user__membership__project",)
    search_fields = ("user__username", "tail")
    fields = ("key", "user", "project", "created_at", "expires", "expired", "last_used_at")
    readonly_fields = fields

    @admin.display(description="key")
    def key(self, token):
        return f"…{token.tail}" if token.tail else "(issued before keys were noted)"

    @admin.display(description="project")
    def project(self, token):
        membership = getattr(token.user, "membership", None)
        return membership.project if membership else "-"

    @admin.display(description="expires", ordering="expires_at")
    def expires(self, token):
        if token.expires_at is None:
            # Flagged: such a token works for whoever holds it until it is revoked here.
            return format_html('<strong style="color: {}">never</strong>', "var(--error-fg)")
        return date_format(timezone.localtime(token.expires_at), "DATETIME_FORMAT")

    @admin.display(description="expired", boolean=True)
    def expired(self, token):
        return token.is_expired()

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
