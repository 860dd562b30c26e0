"""Failed logins are recorded (never the password) and, past the limit, refused unchecked."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import authenticate
from django.db import connection
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from integrations.accounts.models import LoginAttempt
from integrations.accounts.throttle import ThrottledAuthenticationForm, client_ip
from tests.factories import UserFactory
from tests.helpers import POSTGRES_ONLY, at_once

PASSWORD = "pw-for-tests-1"  # tests.factories.UserFactory
WRONG = "Wrong-Password-§42"


@pytest.fixture
def user(db):
    return UserFactory(username="dana")


@pytest.fixture
def login(client):
    def post(username: str, password: str, ip: str = "203.0.113.7", **extra):
        data = {"username": username, "password": password}
        return client.post(reverse("login"), data, REMOTE_ADDR=ip, **extra)

    return post


def _fail(login, times: int, username: str = "dana", ip: str = "203.0.113.7") -> None:
    for _ in range(times):
        response = login(username, WRONG, ip)
        assert response.status_code == 200 and b"Please enter a correct" in response.content


def test_a_failed_login_is_recorded_with_username_ip_and_time_but_no_password(login, user):
    before = timezone.now()
    login("dana", WRONG)
    attempt = LoginAttempt.objects.get()
    assert attempt.username == "dana" and attempt.ip_address == "203.0.113.7"
    assert attempt.created_at >= before and not attempt.refused
    stored = " ".join(str(v) for v in LoginAttempt.objects.values().get().values())
    assert WRONG not in stored and PASSWORD not in stored


def test_a_successful_login_records_nothing_and_logs_in(login, user, client):
    response = login("dana", PASSWORD)
    assert response.status_code == 302
    assert not LoginAttempt.objects.exists()
    assert client.get(reverse("overview")).status_code == 200


def test_after_five_failures_for_a_username_even_the_right_password_is_refused(login, user):
    _fail(login, 5)
    response = login("dana", PASSWORD)
    assert response.status_code == 429
    assert b"Too many failed logins" in response.content
    assert "_auth_user_id" not in response.wsgi_request.session
    assert LoginAttempt.objects.filter(refused=True).count() == 1


def test_the_username_limit_holds_across_addresses_and_letter_case(login, user):
    for i in range(5):
        login("Dana" if i % 2 else "dana", WRONG, ip=f"198.51.100.{i}")
    assert login("DANA", PASSWORD, ip="192.0.2.99").status_code == 429


def test_after_five_failures_from_one_address_other_usernames_are_refused_too(login, user):
    for i in range(5):
        login(f"guess{i}", WRONG, ip="203.0.113.50")
    assert login("dana", PASSWORD, ip="203.0.113.50").status_code == 429
    assert login("dana", PASSWORD, ip="203.0.113.51").status_code == 302


def test_a_refused_attempt_does_not_check_the_password(login, user, monkeypatch):
    _fail(login, 5)
    checked = []
    monkeypatch.setattr("django.contrib.auth.forms.authenticate", lambda *a, **k: checked.append(1))
    assert login("dana", PASSWORD).status_code == 429
    assert checked == []


def test_logins_work_again_once_the_window_has_passed(login, user, settings):
    _fail(login, 5)
    assert login("dana", PASSWORD).status_code == 429
    window = timedelta(seconds=settings.LOGIN_THROTTLE_WINDOW_S + 1)
    LoginAttempt.objects.update(created_at=timezone.now() - window)
    assert login("dana", PASSWORD).status_code == 302


def test_refused_attempts_do_not_extend_the_lock(login, user, settings):
    _fail(login, 5)
    LoginAttempt.objects.update(created_at=timezone.now() - timedelta(minutes=14, seconds=50))
    for _ in range(3):
        assert login("dana", WRONG).status_code == 429
    LoginAttempt.objects.filter(refused=False).update(
        created_at=timezone.now() - timedelta(hours=1)
    )
    assert login("dana", PASSWORD).status_code == 302


def test_four_failures_do_not_lock_anyone_out(login, user):
    _fail(login, 4)
    assert login("dana", PASSWORD).status_code == 302


def test_the_admin_login_shares_the_throttle(client, user, login):
    user.is_staff = True
    user.save()
    _fail(login, 5)
    response = client.post(
        "/admin/login/", {"username": "dana", "password": PASSWORD}, REMOTE_ADDR="192.0.2.1"
    )
    assert response.status_code == 200 and b"Too many failed logins" in response.content
    assert "_auth_user_id" not in client.session


PROXY = "172.18.0.1"  # the proxy as gunicorn sees it in docker-compose.yml (a private address)


@pytest.mark.parametrize(
    ("proxies", "remote", "forwarded", "client"),
    [
        (0, PROXY, "198.51.100.9", PROXY),  # no proxy configured: the header is not read
        (1, PROXY, "198.51.100.9", "198.51.100.9"),
        (1, "127.0.0.1", "198.51.100.9", "198.51.100.9"),  # a proxy on the same host
        (1, PROXY, "6.6.6.6, 198.51.100.9", "198.51.100.9"),  # the forged entry is ignored
        (2, PROXY, "6.6.6.6, 198.51.100.9, 10.0.0.5", "198.51.100.9"),  # two hops from the right
        (2, PROXY, "198.51.100.9", "198.51.100.9"),  # entered at the inner proxy
        (1, "203.0.113.7", "198.51.100.9", "203.0.113.7"),  # straight from the internet
        (1, PROXY, "", PROXY),
        (1, PROXY, "not-an-ip", PROXY),
        (1, PROXY, "198.51.100.9:4711", PROXY),  # not a bare address
        (1, PROXY, "::ffff:198.51.100.9", "198.51.100.9"),
        (1, "not-an-ip", "198.51.100.9", None),
        (0, "", "", None),
    ],
)
def test_the_client_address_is_read_through_the_trusted_proxies_only(
    settings, rf, proxies, remote, forwarded, client
):
    settings.TRUSTED_PROXIES = proxies
    request = rf.post("/accounts/login/", REMOTE_ADDR=remote, HTTP_X_FORWARDED_FOR=forwarded)
    assert client_ip(request) == client


def test_behind_the_proxy_one_clients_failures_do_not_lock_out_the_others(login, user, settings):
    settings.TRUSTED_PROXIES = 1
    for i in range(5):  # the per-address limit, reached by one client through the proxy
        login(f"guess{i}", WRONG, ip=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.66")
    assert (
        login("dana", PASSWORD, ip=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.66").status_code == 429
    )
    assert login("dana", PASSWORD, ip=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.7").status_code == 302


def test_a_forged_forwarded_for_straight_to_gunicorn_does_not_escape_the_address_limit(
    login, user, settings
):
    settings.TRUSTED_PROXIES = 1
    for i in range(5):
        login(f"guess{i}", WRONG, ip="203.0.113.50", HTTP_X_FORWARDED_FOR=f"198.51.100.{i}")
    forged = login("dana", PASSWORD, ip="203.0.113.50", HTTP_X_FORWARDED_FOR="198.51.100.99")
    assert forged.status_code == 429


def test_a_forwarded_for_that_is_not_an_address_is_a_normal_login(login, user, settings):
    settings.TRUSTED_PROXIES = 1
    response = login("dana", WRONG, ip=PROXY, HTTP_X_FORWARDED_FOR="not-an-ip")
    assert response.status_code == 200
    assert LoginAttempt.objects.get().ip_address == PROXY
    assert login("dana", PASSWORD, ip=PROXY, HTTP_X_FORWARDED_FOR="not-an-ip").status_code == 302


def test_authenticate_itself_stays_usable_for_other_code(user):
    # The throttle lives in the login forms; the backend is unchanged.
    assert authenticate(username="dana", password=PASSWORD) == user


def test_old_failed_login_records_are_pruned_and_recent_ones_kept(db, settings):
    from datetime import timedelta

    from django.utils import timezone

    from integrations.accounts.models import LoginAttempt
    from integrations.accounts.throttle import login_attempts_prune
    from integrations.offices.tasks import prune_snapshots_task

    now = timezone.now()
    old = now - timedelta(days=settings.LOGIN_ATTEMPT_RETENTION_DAYS + 1)
    LoginAttempt.objects.create(username="old", ip_address="127.0.0.1", created_at=old)
    LoginAttempt.objects.create(username="new", ip_address="127.0.0.1", created_at=now)
    assert login_attempts_prune(now=now) == 1
    assert list(LoginAttempt.objects.values_list("username", flat=True)) == ["new"]
    prune_snapshots_task()  # the beat entry runs it too
    assert LoginAttempt.objects.count() == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason=POSTGRES_ONLY)
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("spread", ["one username, 40 addresses", "40 usernames, one address"])
def test_forty_concurrent_wrong_passwords_check_at_most_five(monkeypatch, spread):
    UserFactory(username="dana")
    checked = []
    real = authenticate

    def counting_authenticate(*args, **kwargs):
        checked.append(1)  # list.append is atomic across threads
        return real(*args, **kwargs)

    monkeypatch.setattr("django.contrib.auth.forms.authenticate", counting_authenticate)

    def attempt(i: int):
        username, ip = (
            ("dana", f"198.51.100.{i}") if spread.startswith("one") else (f"u{i}", "203.0.113.9")
        )
        request = RequestFactory().post(reverse("login"), REMOTE_ADDR=ip)
        form = ThrottledAuthenticationForm(request, data={"username": username, "password": WRONG})
        return lambda: form.is_valid()

    raised = at_once([attempt(i) for i in range(40)])
    assert raised == [None] * 40
    assert len(checked) <= 5
    assert LoginAttempt.objects.filter(refused=False).count() == len(checked)
    assert LoginAttempt.objects.filter(refused=True).count() == 40 - len(checked)
