"""CSRF on every POST, a strict Content-Security-Policy, templates without inline code, and
production settings (secure cookies, HSTS, SSL redirect)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet
from django.test import Client
from django.urls import reverse

ROOT = Path(__file__).resolve().parents[2]
INLINE_CODE = {
    "inline <script> without src": re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.I),
    "<style> element": re.compile(r"<style\b", re.I),
    "style= attribute": re.compile(r"\sstyle\s*=", re.I),
    "on*= event handler": re.compile(r"\son[a-z]+\s*=", re.I),
    "hx-on handler (needs unsafe-eval)": re.compile(r"\shx-on[:\-]", re.I),
    "javascript: URL": re.compile(r"javascript:", re.I),
}
POST_FORM = re.compile(r"<form\b[^>]*method=[\"']?post[\"']?[^>]*>(.*?)</form>", re.I | re.S)


def _html_pages(client, endpoints):
    """(name, html) of every non-admin page the owner can GET as HTML."""
    for endpoint in endpoints:
        if endpoint.is_admin:
            continue
        response = client.get(endpoint.url)
        if response.status_code == 200 and "text/html" in response.get("Content-Type", ""):
            yield endpoint.name, response


def _csrf_rejected(response) -> bool:
    return response.status_code == 403 and b"CSRF" in response.content


# --- CSRF ------------------------------------------------------------------------------------


# Exempt from CSRF: Open Dental's workstations post API Events there (no session, no cookie; the
# customer key in Authorization decides, see tests/apitools/test_events_receive.py).
CSRF_EXEMPT = {"apitools_events_receive"}


def test_every_post_without_a_csrf_token_is_rejected(owner, all_endpoints):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    anonymous = Client(enforce_csrf_checks=True)
    wrong = []
    for endpoint in [e for e in all_endpoints if e.name not in CSRF_EXEMPT]:
        for who, c in (("owner", client), ("anonymous", anonymous)):
            for headers in ({}, {"HX-Request": "true"}):
                response = c.post(endpoint.url, {"name": "x"}, headers=headers)
                if not _csrf_rejected(response):
                    wrong.append(f"{who} {endpoint.name} {headers}: {response.status_code}")
    assert not wrong, "\n".join(wrong)


def test_htmx_posts_carry_the_token_from_body_hx_headers(owner, office):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    page = client.get(reverse("office_detail", args=[office.public_id])).content.decode()
    match = re.search(r"<body[^>]*hx-headers='\{\"X-CSRFToken\": \"([^\"]+)\"\}'", page)
    assert match, "the <body> must carry the CSRF token in hx-headers"
    response = client.post(
        reverse("office_poll", args=[office.public_id]),
        {"kind": "health"},
        headers={"HX-Request": "true", "X-CSRFToken": match.group(1)},
    )
    assert not _csrf_rejected(response)


def test_every_rendered_post_form_contains_a_csrf_token(client, owner, all_endpoints):
    client.force_login(owner)
    forms = [
        (name, form)
        for name, response in _html_pages(client, all_endpoints)
        for form in POST_FORM.findall(response.content.decode())
    ]
    assert len(forms) >= 10  # the pages' POST forms were really found
    missing = [name for name, form in forms if "csrfmiddlewaretoken" not in form]
    assert not missing, missing


# --- Content-Security-Policy and inline code ------------------------------------------------


def _directives(header: str) -> dict[str, list[str]]:
    parts = (p.strip().split() for p in header.split(";") if p.strip())
    return {p[0]: p[1:] for p in parts}


def test_pages_send_a_strict_content_security_policy(client, owner, all_endpoints):
    client.force_login(owner)
    pages = dict(_html_pages(client, all_endpoints))
    login = Client().get(reverse("login"))
    assert len(pages) >= 10
    for name, response in [*pages.items(), ("login", login)]:
        csp = _directives(response.get("Content-Security-Policy", ""))
        assert csp.get("default-src") == ["'self'"], name
        for directive in ("script-src", "style-src"):
            assert directive in csp, (name, directive)
            assert "'unsafe-inline'" not in csp[directive], (name, directive)
            assert "'unsafe-eval'" not in csp[directive], (name, directive)
            assert "*" not in csp[directive], (name, directive)
        assert csp.get("object-src") == ["'none'"] and csp.get("frame-ancestors") == ["'none'"]
        assert response["X-Frame-Options"] == "DENY"
        assert response["X-Content-Type-Options"] == "nosniff"


def _template_files() -> list[Path]:
    dirs = [ROOT / "templates", *ROOT.glob("*/templates")]
    return sorted(p for d in dirs for p in d.rglob("*.html"))


def test_templates_have_no_inline_scripts_styles_or_handlers():
    files = _template_files()
    assert any(p.name == "base.html" for p in files)
    offenders = []
    for path in files:
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            for what, pattern in INLINE_CODE.items():
                if pattern.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {what}")
    assert not offenders, "\n".join(offenders)


def test_rendered_pages_have_no_inline_scripts_styles_or_handlers(client, owner, all_endpoints):
    client.force_login(owner)
    pages = dict(_html_pages(client, all_endpoints))
    assert len(pages) >= 10
    offenders = []
    for name, response in pages.items():
        html = response.content.decode()
        offenders += [f"{name}: {what}" for what, p in INLINE_CODE.items() if p.search(html)]
    assert not offenders, "\n".join(offenders)


# --- production settings ------------------------------------------------------------------


def _production_settings() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG")}
    env.update(
        DEBUG="false",
        ALLOWED_HOSTS="odportal.example.com",
        SECRET_KEY="p" * 30 + "7c1e5b9a3d8f2a6c4e0b1d7f9a3c5e8b",
        ODPORTAL_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
    )
    names = [
        "DEBUG",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SESSION_COOKIE_HTTPONLY",
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "X_FRAME_OPTIONS",
        "SECURE_CONTENT_TYPE_NOSNIFF",
    ]
    code = (
        "import json; from django.conf import settings; "
        f"print(json.dumps({{n: getattr(settings, n) for n in {names!r}}}))"
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_settings_use_secure_cookies_hsts_and_ssl_redirect():
    prod = _production_settings()
    assert prod["DEBUG"] is False
    assert prod["SESSION_COOKIE_SECURE"] and prod["CSRF_COOKIE_SECURE"]
    assert prod["SESSION_COOKIE_HTTPONLY"]
    assert prod["SECURE_SSL_REDIRECT"]
    assert prod["SECURE_HSTS_SECONDS"] >= 31536000 and prod["SECURE_HSTS_INCLUDE_SUBDOMAINS"]
    assert prod["X_FRAME_OPTIONS"] == "DENY" and prod["SECURE_CONTENT_TYPE_NOSNIFF"]


def test_with_production_security_http_redirects_and_https_gets_hsts(settings, owner):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    plain = Client().get(reverse("login"))
    assert plain.status_code == 301 and plain["Location"].startswith("https://")
    secure = Client().get(reverse("login"), secure=True)
    assert secure.status_code == 200
    assert secure["Strict-Transport-Security"].startswith("max-age=31536000")
    assert secure.cookies[settings.CSRF_COOKIE_NAME]["secure"]
