"""Admin: read-mostly views; secrets are never listed or editable here (use the services).

Keys are read-only, and so are an office's account, API mode and base URL: they decide where
the office's requests go and with which key, so they change only through the services (which
validate them and record the change). Offices are added there too.
"""

from django.contrib import admin

from integrations.offices import models
from odportal.lib.admin import ReadOnlyAdmin

SECRET_FIELDS = ("key_encrypted", "key_hash")


@admin.register(models.Office)
class OfficeAdmin(admin.ModelAdmin):
    list_display = ("name", "account", "api_mode", "status", "last_success_at", "polling_enabled")
    list_filter = ("status", "api_mode", "polling_enabled")
    search_fields = ("name", "reference")
    list_select_related = ("account",)
    # Where requests (and keys) go: owners set it on the office pages (confirmed, audited).
    readonly_fields = ("account", "api_mode", "base_url")

    def has_add_permission(self, request) -> bool:  # office_create validates and audits
        return False


@admin.register(models.CustomerKey)
class CustomerKeyAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "office", "status", "is_current", "created_at")
    list_filter = ("status", "is_current")
    exclude = SECRET_FIELDS
    list_select_related = ("office",)


admin.site.register(models.Clinic)
admin.site.register(models.PollRun)
admin.site.register(models.AgingSnapshot)


@admin.register(models.OfficeStatusChange)
class OfficeStatusChangeAdmin(admin.ModelAdmin):
    list_display = ("at", "office", "previous", "status")
    list_filter = ("status",)
    list_select_related = ("office",)
