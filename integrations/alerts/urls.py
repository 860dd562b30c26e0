"""Incidents, and an account's alert channels and policy."""

from django.urls import path

from integrations.alerts import views

urlpatterns = [
    path("alerts/incidents/", views.incident_list, name="incident_list"),
    path("alerts/incidents/<uuid:public_id>/acknowledge/", views.incident_acknowledge,
         name="incident_acknowledge"),
    path("alerts/incidents/<uuid:public_id>/mute/", views.incident_mute, name="incident_mute"),
    path("developer-accounts/<uuid:public_id>/alerts/", views.account_alerts,
         name="account_alerts"),
    path("developer-accounts/<uuid:public_id>/alerts/channels/new/", views.channel_add,
         name="alert_channel_add"),
    path("alerts/channels/<uuid:public_id>/test/", views.channel_test, name="alert_channel_test"),
    path("alerts/channels/<uuid:public_id>/rules/", views.channel_rules,
         name="alert_channel_rules"),
    path("alerts/channels/<uuid:public_id>/delete/", views.channel_delete,
         name="alert_channel_delete"),
]  # fmt: skip
