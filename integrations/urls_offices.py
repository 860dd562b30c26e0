"""Offices, keys and aging report URLs."""

from django.urls import path

from integrations.views import dashboard

urlpatterns = [
    path("offices/", dashboard.overview, name="office_list"),  # placeholder until the list page
]
