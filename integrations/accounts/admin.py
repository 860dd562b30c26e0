"""Admin: read-mostly views; secrets are never listed or editable here (use the services)."""

from django.contrib import admin

from integrations.accounts import models

SECRET_FIELDS = ("developer_key_encrypted", "portal_key_encrypted")


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


@admin.register(models.AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "actor", "action", "object_repr", "account")
    list_filter = ("action",)

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(models.LoginAttempt)
class LoginAttemptAdmin(admin.ModelAdmin):
    list_display = ("__str__",)

    def has_change_permission(self, request, obj=None) -> bool:
        return False
