"""The per-account audit log: filters, pagination, htmx partial, CSV export, escaping."""

from __future__ import annotations

import csv
import datetime as dt
import io

from django.urls import reverse
from django.utils import timezone

from tests.factories import AuditEventFactory, DeveloperAccountFactory


def _events(account, owner):
    day = timezone.now().replace(hour=12)
    AuditEventFactory(
        account=account,
        actor=owner,
        action="key.add",
        object_type="customerkey",
        object_repr="…AB12 (Enabled)",
        detail={"office": "North Clinic", "last4": "AB12"},
        created_at=day - dt.timedelta(days=10),
    )
    AuditEventFactory(
        account=account,
        actor=None,
        action="key.detected",
        object_type="customerkey",
        object_repr="…CD34 (Disabled by customer)",
        detail={"status": "disabled_by_customer"},
        created_at=day - dt.timedelta(days=1),
    )
    AuditEventFactory(
        account=account,
        actor=owner,
        action="office.create",
        object_type="office",
        object_repr="South Clinic",
        created_at=day,
    )
    AuditEventFactory(
        account=DeveloperAccountFactory(), action="office.create", object_repr="Other team office"
    )


def _reprs(response) -> list[str]:
    return [e.object_repr for e in response.context["page"]]


def test_audit_lists_only_this_accounts_events_newest_first(client, account, owner):
    _events(account, owner)
    client.force_login(owner)
    response = client.get(reverse("account_audit", args=[account.public_id]))
    assert _reprs(response) == ["South Clinic", "…CD34 (Disabled by customer)", "…AB12 (Enabled)"]


def test_audit_filters(client, account, owner):
    _events(account, owner)
    client.force_login(owner)
    url = reverse("account_audit", args=[account.public_id])
    today = timezone.now().date()
    cases = {
        "action=key.add": ["…AB12 (Enabled)"],
        "actor=system": ["…CD34 (Disabled by customer)"],
        "actor=owner&object_type=office": ["South Clinic"],
        "q=north": ["…AB12 (Enabled)"],  # matches inside the details
        "q=CD34": ["…CD34 (Disabled by customer)"],
        f"date_from={today - dt.timedelta(days=2)}": [
            "South Clinic",
            "…CD34 (Disabled by customer)",
        ],
        f"date_to={today - dt.timedelta(days=2)}": ["…AB12 (Enabled)"],
        "action=no.such.action": [],
    }
    for query, expected in cases.items():
        assert _reprs(client.get(f"{url}?{query}")) == expected, query


def test_reversed_date_range_shows_an_error(client, account, owner):
    client.force_login(owner)
    url = reverse("account_audit", args=[account.public_id])
    response = client.get(f"{url}?date_from=2025-02-01&date_to=2025-01-01")
    assert response.context["form"].errors["date_to"]


def test_audit_is_paginated_and_htmx_gets_the_table_only(client, account, owner):
    AuditEventFactory.create_batch(55, account=account)
    client.force_login(owner)
    url = reverse("account_audit", args=[account.public_id])
    first = client.get(url)
    assert len(first.context["page"]) == 50 and "Page 1 of 2" in first.content.decode()
    partial = client.get(f"{url}?page=2", headers={"HX-Request": "true"})
    body = partial.content.decode()
    assert len(partial.context["page"]) == 5
    assert body.lstrip().startswith('<div id="audit-table">') and "<html" not in body
    assert "HX-Request" in partial["Vary"]


def test_htmx_history_restore_gets_the_whole_audit_page(client, account, owner):
    AuditEventFactory(account=account, object_repr="North Clinic")
    client.force_login(owner)
    url = reverse("account_audit", args=[account.public_id])
    restore = {"HX-Request": "true", "HX-History-Restore-Request": "true"}
    response = client.get(f"{url}?q=North", headers=restore)
    body = response.content.decode()
    assert "<html" in body and 'class="topbar"' in body and 'id="id_q"' in body
    assert 'id="audit-table"' in body and "North Clinic" in body
    assert "HX-Request" in response["Vary"]


def test_audit_query_count_is_fixed(client, account, owner, django_assert_num_queries):
    _events(account, owner)
    AuditEventFactory.create_batch(30, account=account, actor=owner)
    client.force_login(owner)
    url = reverse("account_audit", args=[account.public_id])
    # session, user, account, role, 3 filter choice lists, count, page, heartbeats
    with django_assert_num_queries(10):
        client.get(url)


def test_audit_escapes_detail_and_repr(client, account, owner):
    AuditEventFactory(
        account=account,
        object_repr="<img src=x onerror=alert(1)>",
        detail={"note": "</code><script>alert(2)</script>"},
    )
    client.force_login(owner)
    body = client.get(reverse("account_audit", args=[account.public_id])).content.decode()
    assert "<img src=x" not in body and "<script>alert(2)" not in body
    assert "&lt;img src=x onerror=alert(1)&gt;" in body


def test_csv_export_streams_filtered_rows(client, account, owner):
    _events(account, owner)
    client.force_login(owner)
    url = reverse("account_audit_csv", args=[account.public_id])
    response = client.get(f"{url}?object_type=customerkey")
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows[0] == [
        "time_utc",
        "actor",
        "action",
        "object_type",
        "object_id",
        "object",
        "detail",
    ]
    assert [r[2] for r in rows[1:]] == ["key.detected", "key.add"]
    assert rows[2][1] == "owner" and rows[1][1] == "system"
    assert '"office": "North Clinic"' in rows[2][6]


def test_csv_neutralises_formulas(client, account, owner):
    AuditEventFactory(account=account, object_repr='=HYPERLINK("http://evil")')
    client.force_login(owner)
    response = client.get(reverse("account_audit_csv", args=[account.public_id]))
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows[1][5].startswith("'=")


def test_csv_neutralises_a_username_that_looks_like_a_formula(client, account, owner):
    from tests.factories import UserFactory

    AuditEventFactory(account=account, actor=UserFactory(username="@SUM(1+1)"))
    client.force_login(owner)
    response = client.get(reverse("account_audit_csv", args=[account.public_id]))
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows[1][1] == "'@SUM(1+1)"


def test_audit_page_links_csv_with_the_same_filters(client, account, owner):
    client.force_login(owner)
    url = reverse("account_audit", args=[account.public_id])
    body = client.get(f"{url}?action=key.add&q=x").content.decode()
    assert (
        f"{reverse('account_audit_csv', args=[account.public_id])}?q=x&amp;action=key.add" in (body)
        or "audit.csv?action=key.add&amp;q=x" in body
    )


def test_details_read_as_key_value_pairs_not_escaped_json(client, account, owner):
    AuditEventFactory(
        account=account,
        object_repr="Zahnarztpraxis",
        detail={"fields": ["name", "time_zone"], "name": "Zürich Süd — 歯科", "added": True},
    )
    client.force_login(owner)
    body = client.get(reverse("account_audit", args=[account.public_id])).content.decode()
    assert "\\u" not in body and "{&quot;" not in body
    assert "<dt>fields</dt><dd>name, time_zone</dd>" in body
    assert "<dt>name</dt><dd>Zürich Süd — 歯科</dd>" in body
    assert "<dt>added</dt><dd>yes</dd>" in body


def test_search_finds_details_in_any_language_and_case(client, account, owner):
    AuditEventFactory(account=account, object_repr="A", detail={"name": "Zürich Süd"})
    AuditEventFactory(account=account, object_repr="B", detail={"name": "歯科クリニック"})
    AuditEventFactory(account=account, object_repr="C", detail={"name": "ΟΔΟΝΤΙΑΤΡΕΙΟ"})
    AuditEventFactory(account=account, object_repr="Ärztehaus", detail={})
    client.force_login(owner)
    url = reverse("account_audit", args=[account.public_id])
    cases = {"zürich": ["A"], "ZÜRICH SÜD": ["A"], "クリニック": ["B"], "οδοντιατρειο": ["C"]}
    cases["ärzte"] = ["Ärztehaus"]
    for q, expected in cases.items():
        assert _reprs(client.get(url, {"q": q})) == expected, q


def test_a_changed_event_keeps_its_search_text(account):
    event = AuditEventFactory(account=account, object_repr="Old", detail={})
    event.detail = {"note": "Ñandú"}
    event.save(update_fields=["detail"])
    event.refresh_from_db()
    assert "ñandú" in event.search_text
