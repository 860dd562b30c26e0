"""Developer accounts, members, audit log and import URLs."""

from django.urls import path

from integrations.views import dashboard

urlpatterns = [
    path("developer-accounts/", dashboard.overview, name="account_list"),  # placeholder
]
