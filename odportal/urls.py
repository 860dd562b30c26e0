"""Top-level URLs: auth views, admin, and the apps (each owns its own list)."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path

from integrations.accounts.throttle import ThrottledAdminAuthenticationForm, ThrottledLoginView

# The admin login is a second door: same throttle, same failure records.
admin.site.login_form = ThrottledAdminAuthenticationForm

urlpatterns = [
    path(
        "accounts/login/",
        login_not_required(ThrottledLoginView.as_view()),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("", include("integrations.offices.urls")),
    path("", include("integrations.accounts.urls")),
    path("", include("integrations.alerts.urls")),
    path("", include("integrations.apitools.urls")),
]
