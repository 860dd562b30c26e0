"""Admin: read-mostly views; secrets are never listed or editable here (use the services).

Members, audit events and login records are read-only: roles change through membership_set /
membership_remove (which keep an owner and record the change), and the audit log is a record.
"""

from django.contrib import admin

from integrations.accounts import models
from odportal.lib.admin import ReadOnlyAdmin

SECRET_FIELDS = ("developer_key_encrypted", "portal_key_encrypted")


@admin.register(models.DeveloperAccount)
class DeveloperAccountAdmin(admin.ModelAdmin):
    list_display = ("company_name", "dev_name", "portal_access", "developer_key_last4")
    search_fields = ("company_name", "dev_name")
    exclude = SECRET_FIELDS
    readonly_fields = ("developer_key_last4", "portal_key_last4")


@admin.register(models.Membership)
class MembershipAdmin(ReadOnlyAdmin):
    list_display = ("account", "user", "role")
    list_filter = ("role",)


@admin.register(models.RequestedPermission)
class RequestedPermissionAdmin(admin.ModelAdmin):
    list_display = ("account", "resource", "can_read", "can_create", "can_update")


@admin.register(models.AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "actor", "action", "object_repr", "account")
    list_filter = ("action",)


@admin.register(models.LoginAttempt)
class LoginAttemptAdmin(admin.ModelAdmin):
    """Failed logins, as recorded; deleting them is how staff lift a lock-out early."""

    list_display = ("__str__",)

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(models.Invitation)
class InvitationAdmin(ReadOnlyAdmin):
    """Invitations are a record: owners invite and revoke on the members page (audited)."""

    list_display = ("email", "account", "role", "invited_by", "created_at", "accepted_at")
    list_filter = ("role",)
    exclude = ("token_hash",)
