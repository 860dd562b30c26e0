"""Overview, offices, keys, poll runs, aging report and office import URLs.

The routes of one office are a list included once under its prefix (as healthchecks does).
"""

from django.urls import include, path

from integrations.offices.views import (
    aging,
    bulk,
    imports,
    inventory,
    keys,
    offices,
    overview,
    polls,
)

key_urls = [
    *[
        path(f"{action}/", keys.key_action, {"action": action}, name=f"office_key_{action}")
        for action in keys.KEY_ACTIONS
    ],
    path("move/offices/", keys.key_move_choices, name="office_key_move_choices"),
]

office_urls = [
    path("", offices.office_detail, name="office_detail"),
    path("edit/", offices.office_edit, name="office_edit"),
    path("poll/", polls.poll_now, name="office_poll"),
    path("keys/new/", keys.key_add, name="office_key_add"),
    path("keys/generate/", keys.key_generate, name="office_key_generate"),
    path("onboarding/", keys.office_onboarding, name="office_onboarding"),
    path("onboarding/reveal/", keys.key_reveal, name="office_key_reveal"),
    path("keys/<uuid:key_id>/", include(key_urls)),
    path("aging/", aging.aging_report, name="office_aging"),
    path("aging.csv", aging.aging_csv, name="office_aging_csv"),
    path("aging/as-of/", aging.aging_as_of, name="office_aging_as_of"),
]

urlpatterns = [
    path("", overview.overview, name="overview"),
    path("offices/", offices.office_list, name="office_list"),
    path("offices/new/", offices.office_new, name="office_new"),
    path("offices.csv", offices.office_list_csv, name="office_list_csv"),
    path("aging/", aging.fleet_aging, name="fleet_aging"),
    path("aging.csv", aging.fleet_aging_csv, name="fleet_aging_csv"),
    path("offices/bulk/", bulk.office_bulk, name="office_bulk"),
    path("bulk-jobs/<uuid:public_id>/", bulk.bulk_job, name="bulk_job"),
    path("bulk-jobs/<uuid:public_id>/offices.csv", bulk.bulk_job_csv, name="bulk_job_csv"),
    path("offices/<uuid:public_id>/", include(office_urls)),
    path("runs/<uuid:public_id>/badge/", polls.run_badge, name="run_badge"),
    path(
        "developer-accounts/<uuid:public_id>/import/",
        imports.account_import,
        name="account_import",
    ),
    path(
        "developer-accounts/<uuid:public_id>/import/template.csv",
        imports.account_import_template,
        name="account_import_template",
    ),
    path("imports/<uuid:public_id>/", imports.import_job, name="import_job"),
    path(
        "developer-accounts/<uuid:public_id>/portal-keys/",
        inventory.account_portal_keys,
        name="account_portal_keys",
    ),
    path(
        "developer-accounts/<uuid:public_id>/billing/",
        inventory.account_billing,
        name="account_billing",
    ),
    path(
        "developer-accounts/<uuid:public_id>/billing.csv",
        inventory.account_billing_csv,
        name="account_billing_csv",
    ),
    path(
        "developer-accounts/<uuid:public_id>/portal-keys/sync/",
        inventory.account_portal_keys_sync,
        name="account_portal_keys_sync",
    ),
    *[
        path(
            f"developer-accounts/<uuid:public_id>/portal-keys/<uuid:key_id>/{action}/",
            inventory.portal_key_action,
            {"action": action},
            name=f"portal_key_{action}",
        )
        for action in inventory.PORTAL_KEY_ACTIONS
    ],
]
