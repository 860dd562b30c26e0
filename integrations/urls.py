"""URLs of the dashboard; each area owns its own list (urls_offices, urls_accounts)."""

from django.urls import include, path

urlpatterns = [
    path("", include("integrations.urls_offices")),
    path("", include("integrations.urls_accounts")),
]
