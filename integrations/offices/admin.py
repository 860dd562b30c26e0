"""Admin: read-mostly views; secrets are never listed or editable here (use the services)."""

from django.contrib import admin

from integrations.offices import models

SECRET_FIELDS = ("key_encrypted", "key_hash")


@admin.register(models.Office)
class OfficeAdmin(admin.ModelAdmin):
    list_display = ("name", "account", "api_mode", "status", "last_success_at", "polling_enabled")
    list_filter = ("status", "api_mode", "polling_enabled")
    search_fields = ("name", "reference")
    list_select_related = ("account",)
    # Where requests (and keys) go: owners set it on the office pages (confirmed, audited).
    readonly_fields = ("api_mode", "base_url")


@admin.register(models.CustomerKey)
class CustomerKeyAdmin(admin.ModelAdmin):
    list_display = ("__str__", "office", "status", "is_current", "created_at")
    list_filter = ("status", "is_current")
    exclude = SECRET_FIELDS
    readonly_fields = ("last4",)
    list_select_related = ("office",)

    def has_add_permission(self, request) -> bool:  # keys are added through the services
        return False

    def has_delete_permission(self, request, obj=None) -> bool:  # keys are never deleted
        return False


admin.site.register(models.Clinic)
admin.site.register(models.PollRun)
admin.site.register(models.AgingSnapshot)


@admin.register(models.OfficeStatusChange)
class OfficeStatusChangeAdmin(admin.ModelAdmin):
    list_display = ("at", "office", "previous", "status")
    list_filter = ("status",)
    list_select_related = ("office",)
