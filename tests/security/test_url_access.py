"""Every URL pattern, walked from the root resolver, tried anonymously, by an outsider, a viewer.

New URLs are covered automatically: a pattern that cannot be built from the fixtures fails the
suite by name (see tests.helpers.endpoints), and the allow-lists below are the only exceptions.
"""

from __future__ import annotations

from django.urls import reverse

from integrations.accounts.models import AuditEvent

# Reachable without logging in.
PUBLIC = {
    "login": "the login page",
    "admin:login": "the admin's own login page",
    "invitation_accept": "the emailed invitation link (the token decides)",
    "password_reset": "asking for a reset link",
    "password_reset_done": "the reset link was sent",
    "password_reset_confirm": "the emailed reset link (its token decides)",
    "password_reset_complete": "the new password is set",
}
# Public pages that name an account to whoever holds their link.
SHOWS_ITS_ACCOUNT = {"invitation_accept": "an invitation says whom it invites to"}
# Reachable without logging in for POST only: Open Dental's workstations post API Events there
# (the token in the path names the office, the customer key in Authorization decides).
PUBLIC_POST = {"apitools_events_receive": "the API Events receiving URL"}
# Pages that are not one object but which a viewer may still POST to.
VIEWER_MAY_POST = {
    "apitools_events_receive": "no login counts there: without the office's key it is 401",
    "login": "a logged-in user posting the login form is redirected away",
    "logout": "anyone logged in may log out",
    "account_create": "anyone may create a developer account of their own (they own it)",
    "invitation_accept": "whoever holds an invitation's link may accept it",
    "password_change": "anyone logged in may change their own password",
    "password_reset": "anyone may ask for a reset link",
    "password_reset_confirm": "the reset link's token decides",
}
LOGIN = "/accounts/login/"
ADMIN_LOGIN = "/admin/login/"


def _login_urls_for(endpoint) -> tuple[str, ...]:
    # The admin is its own area: its index and login views send to the admin's login page
    # (staff only), its model pages to the site's login (LoginRequiredMiddleware); both throttle.
    return (ADMIN_LOGIN, LOGIN) if endpoint.is_admin else (LOGIN,)


def _redirects_to(response, urls: str | tuple[str, ...]) -> bool:
    return response.status_code == 302 and response["Location"].startswith(urls)


def test_every_url_pattern_can_be_exercised(all_endpoints):
    names = {e.name for e in all_endpoints}
    assert {"overview", "office_detail", "account_detail", "run_badge", "login"} <= names
    assert set(PUBLIC) <= names and set(VIEWER_MAY_POST) <= names and set(PUBLIC_POST) <= names


def test_anonymous_is_sent_to_login_everywhere_but_the_public_pages(client, all_endpoints):
    wrong = []
    for endpoint in all_endpoints:
        if endpoint.name in PUBLIC:
            if client.get(endpoint.url).status_code != 200:
                wrong.append(f"{endpoint.name}: public page did not answer 200")
            continue
        if endpoint.name in PUBLIC_POST:
            statuses = (client.get(endpoint.url).status_code, client.post(endpoint.url).status_code)
            if statuses != (405, 401):
                wrong.append(f"{endpoint.name}: GET/POST without a key answered {statuses}")
            continue
        for method in ("get", "post"):
            response = getattr(client, method)(endpoint.url)
            if not _redirects_to(response, _login_urls_for(endpoint)):
                wrong.append(f"{method.upper()} {endpoint.url} ({endpoint.name}): {response}")
    assert not wrong, "\n".join(wrong)


def test_object_pages_answer_404_to_an_outsider(client, outsider, all_endpoints):
    client.force_login(outsider)
    wrong = []
    for endpoint in [e for e in all_endpoints if e.owner]:
        statuses = {m: getattr(client, m)(endpoint.url).status_code for m in ("get", "post")}
        # 405 is decided before any lookup, so it tells nothing about the object.
        if set(statuses.values()) - {404, 405} or 404 not in statuses.values():
            wrong.append(f"{endpoint.name} {endpoint.url}: {statuses}")
    assert not wrong, "\n".join(wrong)


def test_pages_that_are_not_one_object_show_an_outsider_nothing_of_other_teams(
    client, outsider, office, account, all_endpoints
):
    client.force_login(outsider)
    leaks = []
    pages = [e for e in all_endpoints if not e.owner and not e.is_admin]
    for endpoint in [e for e in pages if e.name not in SHOWS_ITS_ACCOUNT]:
        response = client.get(endpoint.url)
        assert response.status_code < 500, endpoint.name
        body = b"".join(response) if response.streaming else response.content
        for secret in (office.name, account.company_name, str(office.public_id)):
            if secret.encode() in body:
                leaks.append(f"{endpoint.name} shows {secret!r}")
    assert not leaks, "\n".join(leaks)


def test_admin_refuses_users_who_are_not_staff(client, owner, all_endpoints):
    client.force_login(owner)
    wrong = []
    for endpoint in [e for e in all_endpoints if e.is_admin and e.name not in PUBLIC]:
        # The admin's logout sends a non-staff user to the admin index, which asks to log in.
        target = "/admin/" if endpoint.name == "admin:logout" else ADMIN_LOGIN
        if not _redirects_to(client.get(endpoint.url), target):
            wrong.append(endpoint.name)
    assert not wrong, wrong


def test_every_post_endpoint_answers_403_to_a_viewer_and_changes_nothing(
    client, teammate, all_endpoints
):
    client.force_login(teammate)
    events_before = AuditEvent.objects.count()
    wrong = []
    for endpoint in all_endpoints:
        if endpoint.name in VIEWER_MAY_POST or endpoint.is_admin:
            continue
        status = client.post(endpoint.url, {}).status_code
        if status == 405:
            if endpoint.owner and client.get(endpoint.url).status_code == 405:
                wrong.append(f"{endpoint.name}: neither GET nor POST could be exercised")
            continue
        if status != 403:
            wrong.append(f"POST {endpoint.url} ({endpoint.name}) by a viewer: {status}")
    assert not wrong, "\n".join(wrong)
    assert AuditEvent.objects.count() == events_before


def test_overview_refuses_post(client, teammate):
    client.force_login(teammate)
    assert client.post(reverse("overview")).status_code in (403, 405)


def test_viewer_still_reads_every_object_page_it_may_see(client, teammate, all_endpoints):
    client.force_login(teammate)
    for endpoint in [e for e in all_endpoints if e.owner]:
        status = client.get(endpoint.url).status_code
        assert status in (200, 286, 403, 405), f"{endpoint.name}: {status}"


def test_a_snapshot_of_another_office_is_404_through_the_query_string(
    client, owner, office, outsider
):
    from tests.factories import OfficeFactory

    foreign = OfficeFactory(account=outsider.developer_accounts.first())
    from integrations.offices.models import AgingSnapshot

    theirs = AgingSnapshot.objects.create(office=foreign, source="short_query", as_of="2024-01-31")
    client.force_login(owner)
    url = reverse("office_aging", args=[office.public_id])
    assert client.get(url, {"snapshot": str(theirs.public_id)}).status_code == 404
    csv_url = reverse("office_aging_csv", args=[office.public_id])
    assert client.get(csv_url, {"snapshot": str(theirs.public_id)}).status_code == 404
