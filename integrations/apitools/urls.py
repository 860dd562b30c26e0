"""API console and API Events URLs: an office's routes under its prefix, and the public
receiving URL of API Events (a token in the path, no login)."""

from django.urls import include, path

from integrations.apitools.views import console, events, key_test

office_urls = [
    path("", console.console_page, name="apitools_console"),
    path("test-key/", key_test.key_test_run, name="apitools_key_test"),
    path("writes/", console.console_writes, name="apitools_console_writes"),
    path("calls/<uuid:call_id>/rerun/", console.console_rerun, name="apitools_console_rerun"),
    path("calls/<uuid:call_id>/curl/", console.console_curl, name="apitools_console_curl"),
]

event_urls = [
    path("", events.inbox, name="apitools_inbox"),
    path("batches/<uuid:batch_id>/", events.batch_detail, name="apitools_batch"),
    path(
        "batches/<uuid:batch_id>.<str:fmt>",
        events.batch_export,
        name="apitools_batch_export",
    ),
    path("forward/", events.forward_set, name="apitools_forward"),
    path("subscriptions/", events.subscriptions_page, name="apitools_subscriptions"),
    path(
        "subscriptions/<int:number>/update/",
        events.subscription_update,
        name="apitools_subscription_update",
    ),
    path(
        "subscriptions/<int:number>/delete/",
        events.subscription_delete,
        name="apitools_subscription_delete",
    ),
]

urlpatterns = [
    path("offices/<uuid:public_id>/console/", include(office_urls)),
    path("offices/<uuid:public_id>/events/", include(event_urls)),
    path(
        "developer-accounts/<uuid:public_id>/events/",
        events.account_inbox,
        name="apitools_account_inbox",
    ),  # fmt: skip
    # Public: Open Dental's workstations post here (the token is the secret of the path).
    path("api-events/<str:token>/", events.events_receive, name="apitools_events_receive"),
]
