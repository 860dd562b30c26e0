"""URLs of the dashboard."""

from django.urls import path

from integrations import views

urlpatterns = [
    path("", views.overview, name="overview"),
    path("offices/<uuid:public_id>/", views.office_detail, name="office_detail"),
]
