"""Django settings for odportal, read from the environment.

Development runs on embedded defaults (SQLite and a filesystem Celery broker under ``var/``)
with ``DEBUG=true``. ``DEBUG`` is off unless set, and then start-up refuses a missing or default
``SECRET_KEY`` or encryption key. See ``.env.example`` for every variable.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from odportal.env import env_bool, env_int, env_list, env_str
from odportal.lib.files import private_dir, private_file

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("ODPORTAL_VAR_DIR", str(BASE_DIR / "var")))

# Off unless asked for: with it on, the development keys below are accepted. `manage.py demo`
# (manage.py) and the test suite (tests/env_defaults.py) turn it on for themselves.
DEBUG = env_bool("DEBUG", default=False)

# Development-only fallbacks: published here, so production must never run with them.
DEV_SECRET_KEY = "django-insecure-odportal-development-only-do-not-use-in-production"  # noqa: S105
DEV_ENCRYPTION_KEY = "b2Rwb3J0YWwtZGV2LW9ubHktZW5jcnlwdGlvbi1rZXk="

SECRET_KEY = env_str("SECRET_KEY") or DEV_SECRET_KEY
ENCRYPTION_KEYS = env_list("ODPORTAL_ENCRYPTION_KEYS") or [DEV_ENCRYPTION_KEY]
# Keyed hash for customer-key uniqueness; separate from SECRET_KEY so rotating one leaves the other.
# "NEW,OLD" while rotating: NEW hashes, OLD still finds keys hashed before the rotation command.
_KEY_HASH_SECRETS = env_list("ODPORTAL_KEY_HASH_SECRET") or [SECRET_KEY]
KEY_HASH_SECRET = _KEY_HASH_SECRETS[0]
KEY_HASH_PREVIOUS_SECRETS = _KEY_HASH_SECRETS[1:]


def _refuse_default_secrets() -> None:
    problems = []
    if SECRET_KEY == DEV_SECRET_KEY or len(SECRET_KEY) < 50:
        problems.append("SECRET_KEY is missing, default or shorter than 50 characters")
    if DEV_ENCRYPTION_KEY in ENCRYPTION_KEYS:
        problems.append("ODPORTAL_ENCRYPTION_KEYS is missing or contains the development key")
    if problems:
        raise ImproperlyConfigured(
            "Refusing to start with DEBUG off: "
            + "; ".join(problems)
            + '. Generate keys with `python -c "from cryptography.fernet import Fernet; '
            'print(Fernet.generate_key().decode())"` and see .env.example.'
        )


if not DEBUG:
    _refuse_default_secrets()

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "integrations.accounts",
    "integrations.offices",
    # Incidents, notification channels and odportal's own heartbeats: a separate aggregate that
    # reads offices (offices never import it; the sweep sends its task by name).
    "integrations.alerts",
    "integrations.apitools",
]
# The demo and benchmark commands (and their seeding): tooling, not product.
DEVTOOLS = env_bool("ODPORTAL_DEVTOOLS", default=DEBUG)
if DEVTOOLS:
    INSTALLED_APPS.append("integrations.devtools")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Serves STATIC_ROOT under gunicorn (nothing else does in production), before the session
    # and auth work a stylesheet does not need.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "odportal.lib.viewer_tz.ViewerTimezoneMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "odportal.urls"
WSGI_APPLICATION = "odportal.wsgi.application"
ASGI_APPLICATION = "odportal.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            # Times and counts said one way everywhere (odportal/lib/timefmt.py).
            "builtins": ["odportal.templatetags.odtime"],
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "integrations.alerts.context_processors.system_health",
            ],
        },
    },
]

DATABASE_URL = env_str("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'odportal.sqlite3'}"
DATABASES = {
    "default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)
}
DB_POOL_MAX = env_int("ODPORTAL_DB_POOL_MAX", 0)
if DB_POOL_MAX and DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A bounded psycopg pool: a worker thread waiting for its key's next throttle slot hands
    # its connection back, so hundreds of offices in flight need only a few connections.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = False
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 2,
        "max_size": DB_POOL_MAX,
        "timeout": 30,
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    if DATABASES["default"]["NAME"] not in ("", ":memory:"):
        _SQLITE_FILE = Path(DATABASES["default"]["NAME"])
        if VAR_DIR in _SQLITE_FILE.parents:
            private_dir(VAR_DIR)
        _SQLITE_FILE.parent.mkdir(parents=True, exist_ok=True)
        # Created 0600 before SQLite opens it; its -wal and -shm files take the same mode.
        private_file(_SQLITE_FILE)
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # WAL + IMMEDIATE lets the embedded demo run web, worker and beat on one file without
    # "database is locked" errors.
    # A file (not :memory:) so a Celery worker started by a test shares the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-odportal-{os.getpid()}.sqlite3")}
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "overview"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "static")))
# Production serves hashed, compressed copies that `collectstatic` writes with a manifest (the
# image runs it), so they can be cached forever. With DEBUG on (the demo, runserver, the test
# suite, which renders pages without ever running collectstatic) the plain storage serves
# the source files by their own names.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
# Read once here: pytest-django turns settings.DEBUG off for each test, and WhiteNoise would
# then look for a STATIC_ROOT the suite never builds.
WHITENOISE_USE_FINDERS = WHITENOISE_AUTOREFRESH = DEBUG

# Security: strict by default, relaxed only where plain-HTTP development needs it.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF, "mailto:"],
}
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
if env_bool("BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Redis (broker and the cross-process request pacer) or the embedded filesystem broker.
REDIS_URL = env_str("REDIS_URL")
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or REDIS_URL or "filesystem://"
BROKER_DIR = VAR_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    # The embedded broker is a folder (owner only: it holds task messages); create it so a
    # fresh clone needs no setup step.
    for _folder in (VAR_DIR, BROKER_DIR, BROKER_DIR / "queue", BROKER_DIR / "control"):
        private_dir(_folder)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600)
    }
# One queue name per deployment (or test session) so installs sharing a Redis never mix work.
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_TASK_DEFAULT_QUEUE", "celery")
CELERY_TASK_IGNORE_RESULT = True  # outcomes are rows (PollRun), not Celery results
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 1800)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 1860)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TIMEZONE = "UTC"

SWEEP_INTERVAL_S = env_int("ODPORTAL_SWEEP_INTERVAL_S", 60)
CELERY_BEAT_SCHEDULE = {
    "sweep-due-offices": {
        "task": "offices.sweep",
        "schedule": float(SWEEP_INTERVAL_S),
        # Expire just below the interval so a backlog never stacks duplicate sweeps.
        "options": {"expires": max(SWEEP_INTERVAL_S - 5, 1)},
    },
    "prune-aging-snapshots": {
        "task": "offices.prune",
        "schedule": 6 * 3600.0,
        "options": {"expires": 6 * 3600 - 60},
    },
    # Hourly, so each run deletes about an hour of history (a few thousand rows at 10,000
    # offices) instead of a day's worth at once.
    "prune-poll-history": {
        "task": "offices.prune_runs",
        "schedule": 3600.0,
        "options": {"expires": 3600 - 60},
    },
    "resume-stale-key-changes": {
        "task": "offices.key_portal_resume",
        "schedule": 300.0,
        "options": {"expires": 290},
    },
    "sync-portal-inventories": {
        "task": "offices.portal_inventories",
        "schedule": float(env_int("ODPORTAL_PORTAL_SYNC_INTERVAL_S", 3600)),
        "options": {"expires": max(env_int("ODPORTAL_PORTAL_SYNC_INTERVAL_S", 3600) - 60, 1)},
    },
    # Hourly and in batches, like the poll history: received API Events past their retention.
    "purge-api-events": {
        "task": "apitools.events_purge",
        "schedule": 3600.0,
        "options": {"expires": 3600 - 60},
    },
    "api-events-deadman": {
        "task": "apitools.events_deadman",
        "schedule": 300.0,
        "options": {"expires": 300 - 10},
    },
    # The daily digest emails: each account at its own hour, so the task looks every 15 min
    # (a Digest row per account and day keeps it to one).
    "alerts-daily-digest": {
        "task": "alerts.digest",
        "schedule": 900.0,
        "options": {"expires": 900 - 30},
    },
    "resume-stale-imports": {
        "task": "offices.imports_resume",
        "schedule": float(SWEEP_INTERVAL_S),
        "options": {"expires": max(SWEEP_INTERVAL_S - 5, 1)},
    },
    "resume-stale-bulk-jobs": {
        "task": "offices.bulk_jobs_resume",
        "schedule": float(SWEEP_INTERVAL_S),
        "options": {"expires": max(SWEEP_INTERVAL_S - 5, 1)},
    },
}

# odportal's own health (integrations.alerts.services.heartbeats): each worker writes its
# heartbeat this often; the banner shows when no worker wrote one, or the sweep did not run,
# for 3 sweep intervals.
WORKER_HEARTBEAT_S = env_int("ODPORTAL_WORKER_HEARTBEAT_S", 30)

# API console (integrations.apitools.services.console): a call runs inside the web request, so
# it ends within this deadline (capped by OPENDENTAL_DEADLINE_S) and waits at most this long
# for the key's next slot (shared with polling) before saying so.
CONSOLE_DEADLINE_S = float(env_str("ODPORTAL_CONSOLE_DEADLINE_S", "20"))
CONSOLE_MAX_PACE_WAIT_S = float(env_str("ODPORTAL_CONSOLE_MAX_PACE_WAIT_S", "12"))

# API Events (integrations.apitools.services.events). Open Dental's workstations POST events to
# ODPORTAL_PUBLIC_URL (this deployment's address as Open Dental sees it, e.g.
# https://odportal.example.com) plus each office's receiving path; subscriptions cannot be
# created from the office page while it is unset. A batch is at most 1000 rows (about 2 MiB of
# patients); larger bodies get 413. The same body again within the replay window is stored once.
ODPORTAL_PUBLIC_URL = env_str("ODPORTAL_PUBLIC_URL", "").rstrip("/")
EVENTS_MAX_BODY_BYTES = env_int("ODPORTAL_EVENTS_MAX_BODY_BYTES", 8 * 1024 * 1024)
EVENTS_REPLAY_WINDOW_S = env_int("ODPORTAL_EVENTS_REPLAY_WINDOW_S", 600)
EVENTS_RETENTION_DAYS = env_int("ODPORTAL_EVENTS_RETENTION_DAYS", 30)
EVENTS_PURGE_BATCH = env_int("ODPORTAL_EVENTS_PURGE_BATCH", 1000)
# The dead-man switch (integrations.apitools.services.deadman): an inbox whose subscriptions
# poll every N s and that got nothing for max(EVENTS_DEADMAN_MIN_S, FACTOR x N) of the office's
# opening hours (weekdays, local time, "8-18") is marked stopped: the workstation running Open
# Dental may be off. Open Dental posts only when rows changed, hence the floor.
EVENTS_DEADMAN_MIN_S = env_int("ODPORTAL_EVENTS_DEADMAN_MIN_S", 3600)
EVENTS_DEADMAN_FACTOR = env_int("ODPORTAL_EVENTS_DEADMAN_FACTOR", 10)
EVENTS_DEADMAN_HOURS = tuple(
    int(h) for h in env_str("ODPORTAL_EVENTS_DEADMAN_HOURS", "8-18").split("-", 1)
)
EVENTS_DEADMAN_WEEKDAYS_ONLY = env_bool("ODPORTAL_EVENTS_DEADMAN_WEEKDAYS_ONLY", default=True)

# Polling policy (per-office overrides live on the Office row).
HEALTH_INTERVAL_S = env_int("ODPORTAL_HEALTH_INTERVAL_S", 300)
# Between full checks a health poll is one request (the DateLastAging preference: the key
# works, the eConnector answers, aging readiness); the full check (permissions, version,
# clinics: five requests) runs this often, and after a failure, a key change or "Poll now".
HEALTH_FULL_CHECK_INTERVAL_S = env_int("ODPORTAL_HEALTH_FULL_CHECK_INTERVAL_S", 3600)
# A key Open Dental reports disabled (by the office or by HQ) is re-checked this often, so the
# dashboard notices on its own when the office enables it again.
KEY_DISABLED_RECHECK_S = env_int("ODPORTAL_KEY_DISABLED_RECHECK_S", 3600)
# A first failed health poll is checked again this soon (never later than the interval): by
# default at the next sweep, which polls what is due within half a sweep interval.
HEALTH_CONFIRM_S = env_int("ODPORTAL_HEALTH_CONFIRM_S", 30)
# A running run whose worker has not heartbeaten (every HEARTBEAT_EVERY_S, from a thread) for
# this long is taken over by the next sweep or "Refresh now"; a queued run not started this
# long after it was due lost its message (broker restarted) and is sent again.
CLAIM_STALE_AFTER_S = env_int("ODPORTAL_CLAIM_STALE_AFTER_S", 60)
QUEUED_STALE_AFTER_S = env_int("ODPORTAL_QUEUED_STALE_AFTER_S", 600)
SNAPSHOT_RETENTION_DAYS = env_int("ODPORTAL_SNAPSHOT_RETENTION_DAYS", 90)
# Poll history (services/polling/history.py): successful runs are kept this long, failed ones
# longer; each office's latest run of each kind is always kept. Deleted this many per batch.
POLL_RUN_RETENTION_DAYS = env_int("ODPORTAL_POLL_RUN_RETENTION_DAYS", 14)
POLL_RUN_FAILURE_RETENTION_DAYS = env_int("ODPORTAL_POLL_RUN_FAILURE_RETENTION_DAYS", 60)
POLL_RUN_PRUNE_BATCH = env_int("ODPORTAL_POLL_RUN_PRUNE_BATCH", 1000)
KEY_MOVE_PENDING_MINUTES = 15  # Open Dental: a moved key can take up to 15 minutes to work.
# A disable or enable sent to the Developer Portal: attempts in all (transient faults only) and
# the backoff's base and cap in seconds (full jitter, doubling per attempt).
# The inventory page flags keys enabled (billed) at Open Dental whose office has failed longer.
PORTAL_IDLE_BILLED_DAYS = env_int("ODPORTAL_PORTAL_IDLE_BILLED_DAYS", 7)
KEY_PORTAL_MAX_ATTEMPTS = env_int("ODPORTAL_KEY_PORTAL_MAX_ATTEMPTS", 5)
KEY_PORTAL_BACKOFF_S = float(env_str("ODPORTAL_KEY_PORTAL_BACKOFF_S", "5"))
# A portal change still pending after this long is sent again (its message was lost).
KEY_PORTAL_STALE_AFTER_S = env_int("ODPORTAL_KEY_PORTAL_STALE_AFTER_S", 3600)
KEY_PORTAL_BACKOFF_MAX_S = float(env_str("ODPORTAL_KEY_PORTAL_BACKOFF_MAX_S", "300"))

# Error pages and reports hide marked POST fields and locals even with DEBUG on, and the
# passwords inside DATABASE_URL / REDIS_URL.
DEFAULT_EXCEPTION_REPORTER_FILTER = "odportal.lib.error_reports.MaskingExceptionReporterFilter"
# Office imports (integrations.offices.services.imports): a worker imports this many rows per
# transaction and saves its progress after each.
IMPORT_CHUNK_ROWS = env_int("ODPORTAL_IMPORT_CHUNK_ROWS", 200)
# Background jobs (office imports, bulk actions; services/jobs.py): a job whose worker stopped
# heartbeating this long (killed, lost message) is sent again and resumes, at most
# JOB_MAX_ATTEMPTS times. The IMPORT_ names are read too: they were these settings' first names.
JOB_STALE_AFTER_S = env_int(
    "ODPORTAL_JOB_STALE_AFTER_S", env_int("ODPORTAL_IMPORT_STALE_AFTER_S", 120)
)
JOB_MAX_ATTEMPTS = env_int("ODPORTAL_JOB_MAX_ATTEMPTS", env_int("ODPORTAL_IMPORT_MAX_ATTEMPTS", 5))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_keys": {"()": "odportal.lib.logging.RedactKeysFilter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["redact_keys"]},
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}

# Open Dental client. The throttle scale exists for the sandbox (tests, benchmarks); keep 1.0
# against the real API.
OPENDENTAL_THROTTLE_SCALE = float(env_str("OPENDENTAL_THROTTLE_SCALE", "1.0"))
OPENDENTAL_MAX_RETRIES = env_int("OPENDENTAL_MAX_RETRIES", 2)
# Each Open Dental request, all of it (connect, send, every read), ends within this many
# seconds, however slowly the upstream sends: Open Dental answers within 60 s (then 504). Past
# it the call fails as Timeout (transient, so retried OPENDENTAL_MAX_RETRIES times at most).
OPENDENTAL_DEADLINE_S = float(env_str("OPENDENTAL_DEADLINE_S", "65"))
# The largest answer read, decompressed (it is read in chunks, never more than this): a page is
# at most 100 rows remotely, 1000 in Local/Service mode, well under 1 MiB. A larger answer fails
# as ResponseTooLarge (permanent: it would be as large again on a retry).
OPENDENTAL_MAX_RESPONSE_BYTES = env_int("OPENDENTAL_MAX_RESPONSE_BYTES", 16 * 1024 * 1024)
# Extra spacing per key beyond Open Dental's interval (plus 2%), against network and scheduling
# jitter: a request that reaches Open Dental early is refused, and repeated abuse can get an
# address suspended, so a little throughput is traded for never arriving early.
OPENDENTAL_PACE_MARGIN_S = float(env_str("OPENDENTAL_PACE_MARGIN_S", "0.05"))
# A worker thread waits at most this long inline for a key's next slot; longer waits re-queue
# the run so the slot serves other offices meanwhile.
MAX_INLINE_PACE_WAIT_S = float(env_str("ODPORTAL_MAX_INLINE_PACE_WAIT_S", "2.0"))
# Aging refresh runs this long after the office's AgingServiceTimeDue (Open Dental's recipe).
AGING_AFTER_DUE_MARGIN_MIN = env_int("ODPORTAL_AGING_AFTER_DUE_MARGIN_MIN", 15)
RUN_MAX_ATTEMPTS = env_int("ODPORTAL_RUN_MAX_ATTEMPTS", 5)
# Aging rows are written in batches (with the run's heartbeat): per page would cost a
# transaction per request. A batch is also written every HEARTBEAT_EVERY_S, so at Open
# Dental's pace (100 rows a second) batches stay small and a killed worker loses at most a few
# seconds of pages; the row cap matters when pages come fast (Service mode, resumed runs).
# Bigger batches cost less per row (bench ingest; see docs/benchmarks.md).
INGEST_BATCH_ROWS = env_int("ODPORTAL_INGEST_BATCH_ROWS", 5000)
HEARTBEAT_EVERY_S = float(env_str("ODPORTAL_HEARTBEAT_EVERY_S", "5"))
AGING_RETRY_AFTER_FAILURE_S = env_int("ODPORTAL_AGING_RETRY_AFTER_FAILURE_S", 3600)
# The sweep hands daily aging refreshes to the workers this many offices a task: one event
# loop fetches for all of them and their rows are written together, every AGING_BATCH_FLUSH_S
# (integrations.offices.services.polling.batch). 1 sends each as its own task, as "Refresh
# now" does.
AGING_BATCH_SIZE = env_int("ODPORTAL_AGING_BATCH_SIZE", 250)
AGING_BATCH_FLUSH_S = float(env_str("ODPORTAL_AGING_BATCH_FLUSH_S", "1.0"))
# The sweep's health polls go this many offices a task, on one event loop
# (integrations.offices.services.polling.health_batch); "Poll now" is always a task of its own.
HEALTH_BATCH_SIZE = env_int("ODPORTAL_HEALTH_BATCH_SIZE", 200)

# Where requests may go (integrations.opendental.network). Every request carries the developer
# key and the office's customer key. Remote offices all go to OPENDENTAL_REMOTE_BASE_URL (the
# sandbox's in tests, the demo and the benchmarks), never to a stored URL; a Service or Local
# office goes to its own server, whose address only an owner sets. Connections go to public
# addresses and to the networks listed in ODPORTAL_ALLOWED_NETWORKS (CIDR, comma-separated),
# checked on every address connected to: loopback, link-local, private ranges (RFC 1918, ULA,
# 100.64/10), unspecified and multicast must be listed, e.g. a vendor's VPN "10.8.0.0/16".
# Cloud metadata addresses (169.254.169.254, fd00:ec2::254) must be listed on their own (/32,
# /128). Development allows loopback (the sandbox); production allows none by default.
OPENDENTAL_REMOTE_BASE_URL = env_str(
    "OPENDENTAL_REMOTE_BASE_URL", "https://api.opendental.com/api/v1"
).rstrip("/")
ODPORTAL_ALLOWED_NETWORKS = env_list(
    "ODPORTAL_ALLOWED_NETWORKS", ["127.0.0.0/8", "::1/128"] if DEBUG else []
)
for _network in ODPORTAL_ALLOWED_NETWORKS:
    try:
        ipaddress.ip_network(_network)
    except ValueError as _exc:
        raise ImproperlyConfigured(f"ODPORTAL_ALLOWED_NETWORKS: {_exc}") from None
# Email: the account's other owners are told when an office's keys are to go to a new server.
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=False)
# A hung SMTP server must not hold a worker slot or a watcher thread forever (Django: no limit).
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "odportal@localhost")

# Login throttling (integrations.accounts.throttle): failures per username / per client address
# in a window.
LOGIN_THROTTLE_MAX_FAILURES = env_int("ODPORTAL_LOGIN_MAX_FAILURES", 5)
LOGIN_THROTTLE_MAX_FAILURES_PER_IP = env_int("ODPORTAL_LOGIN_MAX_FAILURES_PER_IP", 5)
LOGIN_THROTTLE_WINDOW_S = env_int("ODPORTAL_LOGIN_WINDOW_S", 15 * 60)
# Reverse proxies in front of gunicorn (docker-compose.yml expects one, on the host). Each
# appends to X-Forwarded-For the address it received the request from, so the client is the
# entry this many from the right; entries further left are whatever the client sent. Read only
# when the request comes from a private or loopback address (a proxy), never when it reaches
# gunicorn straight from the internet. 0: REMOTE_ADDR is the client (no proxy).
TRUSTED_PROXIES = env_int("ODPORTAL_TRUSTED_PROXIES", 0)
if TRUSTED_PROXIES < 0:
    raise ImproperlyConfigured("ODPORTAL_TRUSTED_PROXIES must be 0 or more.")
if env_bool("ODPORTAL_TRUST_X_FORWARDED_FOR", default=False):
    raise ImproperlyConfigured(
        "ODPORTAL_TRUST_X_FORWARDED_FOR was replaced: set ODPORTAL_TRUSTED_PROXIES to the number "
        "of proxies in front of gunicorn (1 for one) and remove it."
    )
# Failed-login records are kept this long for review, then pruned with the snapshots.
LOGIN_ATTEMPT_RETENTION_DAYS = env_int("ODPORTAL_LOGIN_ATTEMPT_RETENTION_DAYS", 30)
