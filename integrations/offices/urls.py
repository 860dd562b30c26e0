"""Overview, offices, keys, poll runs and aging report URLs."""

from django.urls import path

from integrations.offices.views import aging, imports, offices, overview

urlpatterns = [
    path("", overview.overview, name="overview"),
    path("offices/", offices.office_list, name="office_list"),
    path("offices/new/", offices.office_new, name="office_new"),
    path("offices/<uuid:public_id>/", offices.office_detail, name="office_detail"),
    path("offices/<uuid:public_id>/edit/", offices.office_edit, name="office_edit"),
    path("offices/<uuid:public_id>/poll/", offices.poll_now, name="office_poll"),
    path("offices/<uuid:public_id>/keys/new/", offices.key_add, name="office_key_add"),
    *[
        path(
            f"offices/<uuid:public_id>/keys/<uuid:key_id>/{action}/",
            offices.key_action,
            {"action": action},
            name=f"office_key_{action}",
        )
        for action in offices.KEY_ACTIONS
    ],
    path(
        "offices/<uuid:public_id>/keys/<uuid:key_id>/move/offices/",
        offices.key_move_choices,
        name="office_key_move_choices",
    ),
    path("offices/<uuid:public_id>/aging/", aging.aging_report, name="office_aging"),
    path("offices/<uuid:public_id>/aging.csv", aging.aging_csv, name="office_aging_csv"),
    path("offices/<uuid:public_id>/aging/as-of/", aging.aging_as_of, name="office_aging_as_of"),
    path("runs/<uuid:public_id>/badge/", offices.run_badge, name="run_badge"),
    path(
        "developer-accounts/<uuid:public_id>/import/",
        imports.account_import,
        name="account_import",
    ),
]
