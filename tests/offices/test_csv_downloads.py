"""CSV downloads open cleanly in Excel and are named after what they hold."""

from __future__ import annotations

import csv
import io

from django.urls import reverse
from django.utils import timezone

from integrations.offices.services.imports import CSV_COLUMNS, offices_import


def _body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_the_import_template_lists_the_columns_with_examples_and_a_bom(client, account, owner):
    client.force_login(owner)
    response = client.get(reverse("account_import_template", args=[account.public_id]))
    assert response.status_code == 200
    body = _body(response)
    assert body.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert tuple(rows[0]) == CSV_COLUMNS and len(rows) == 3
    assert {r[2] for r in rows[1:]} == {"remote", "service"}
    assert "offices-import-template" in response["Content-Disposition"]
    # The template's own rows are refused only for their placeholder keys.
    result = offices_import(account=account, actor=owner, source=body, filename="t.csv")
    assert result.created == 0
    assert all("key" in " ".join(map(str, r.errors)).lower() for r in result.rows)


def test_another_teams_user_cannot_download_the_template(client, account, outsider):
    client.force_login(outsider)
    response = client.get(reverse("account_import_template", args=[account.public_id]))
    assert response.status_code == 404


def test_the_aging_csv_is_named_after_the_office_and_date(client, office, owner):
    office.name = "Smile Dental, Main St"
    office.save()
    client.force_login(owner)
    response = client.get(reverse("office_aging_csv", args=[office.public_id]))
    assert response.status_code == 200
    assert (
        response["Content-Disposition"] == 'attachment; filename="aging-smile-dental-main-st.csv"'
    )
    assert _body(response).startswith(b"\xef\xbb\xbf")


def test_the_audit_csv_is_named_after_the_account_and_today(client, account, owner):
    client.force_login(owner)
    response = client.get(reverse("account_audit_csv", args=[account.public_id]))
    today = timezone.localdate().isoformat()
    assert "audit-" in response["Content-Disposition"] and today in response["Content-Disposition"]
