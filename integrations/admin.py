"""Admin: read-mostly views; secrets are never listed or editable here (use the services)."""

from django.contrib import admin

from integrations import models

SECRET_FIELDS = ("developer_key_encrypted", "portal_key_encrypted", "key_encrypted", "key_hash")


@admin.register(models.DeveloperAccount)
class DeveloperAccountAdmin(admin.ModelAdmin):
    list_display = ("company_name", "dev_name", "portal_access", "developer_key_last4")
    search_fields = ("company_name", "dev_name")
    exclude = SECRET_FIELDS
    readonly_fields = ("developer_key_last4", "portal_key_last4")


@admin.register(models.Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("account", "user", "role")
    list_filter = ("role",)


@admin.register(models.RequestedPermission)
class RequestedPermissionAdmin(admin.ModelAdmin):
    list_display = ("account", "resource", "can_read", "can_create", "can_update")


@admin.register(models.Office)
class OfficeAdmin(admin.ModelAdmin):
    list_display = ("name", "account", "api_mode", "status", "last_success_at", "polling_enabled")
    list_filter = ("status", "api_mode", "polling_enabled")
    search_fields = ("name", "reference")
    list_select_related = ("account",)


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


@admin.register(models.AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "actor", "action", "object_repr", "account")
    list_filter = ("action",)

    def has_change_permission(self, request, obj=None) -> bool:
        return False


admin.site.register(models.Clinic)
admin.site.register(models.PollRun)
admin.site.register(models.AgingSnapshot)


@admin.register(models.OfficeStatusChange)
class OfficeStatusChangeAdmin(admin.ModelAdmin):
    list_display = ("at", "office", "previous", "status")
    list_filter = ("status",)
    list_select_related = ("office",)


@admin.register(models.LoginAttempt)
class LoginAttemptAdmin(admin.ModelAdmin):
    list_display = ("__str__",)

    def has_change_permission(self, request, obj=None) -> bool:
        return False
