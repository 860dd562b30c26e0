"""API console and API Events URLs: an office's routes under its prefix, and the public
receiving URL of API Events (a token in the path, no login)."""

from django.urls import include, path

from integrations.apitools.views import console, key_test

office_urls = [
    path("", console.console_page, name="apitools_console"),
    path("test-key/", key_test.key_test_run, name="apitools_key_test"),
    path("writes/", console.console_writes, name="apitools_console_writes"),
    path("calls/<uuid:call_id>/rerun/", console.console_rerun, name="apitools_console_rerun"),
    path("calls/<uuid:call_id>/curl/", console.console_curl, name="apitools_console_curl"),
]

urlpatterns = [
    path("offices/<uuid:public_id>/console/", include(office_urls)),
]
