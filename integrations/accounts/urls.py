"""Developer accounts, members and audit log URLs (importing offices is the offices app's)."""

from django.urls import path

from integrations.accounts import views

A = "developer-accounts/<uuid:public_id>/"

urlpatterns = [
    path("developer-accounts/", views.account_list, name="account_list"),
    path("developer-accounts/new/", views.account_create, name="account_create"),
    path(A, views.account_detail, name="account_detail"),
    path(A + "edit/", views.account_edit, name="account_edit"),
    path(A + "permissions/", views.account_permissions, name="account_permissions"),
    path(A + "portal-request/", views.account_portal_request, name="account_portal_request"),
    path(A + "audit/", views.account_audit, name="account_audit"),
    path(
        "developer-accounts/<uuid:public_id>/audit.csv",
        views.account_audit_csv,
        name="account_audit_csv",
    ),
    path(A + "members/", views.account_members, name="account_members"),
    path(A + "members/invite/", views.account_invite, name="account_invite"),
    path(
        A + "members/invitations/<uuid:invitation_id>/revoke/",
        views.account_invitation_revoke,
        name="account_invitation_revoke",
    ),
    path("invitations/<str:invitation_token>/", views.invitation_accept, name="invitation_accept"),
    path(A + "members/<str:username>/role/", views.account_member_role, name="account_member_role"),
    path(
        A + "members/<str:username>/remove/",
        views.account_member_remove,
        name="account_member_remove",
    ),
]
