"""URLs of the dashboard; each area owns its own list (urls_offices, urls_accounts)."""

from django.urls import include, path

from integrations.views import dashboard

urlpatterns = [
    path("", dashboard.overview, name="overview"),
    path("offices/<uuid:public_id>/", dashboard.office_detail, name="office_detail"),
    path("", include("integrations.urls_offices")),
    path("", include("integrations.urls_accounts")),
]
