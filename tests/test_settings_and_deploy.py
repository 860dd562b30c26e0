"""Settings refuse unsafe production starts; compose file parses with the expected services."""

import os
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _run_check(env_overrides: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    dropped = {"SECRET_KEY", "ODPORTAL_ENCRYPTION_KEYS", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(env_overrides)
    return subprocess.run(
        [sys.executable, "manage.py", "check", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_refuses_default_secrets():
    result = _run_check({"DEBUG": "false", "ALLOWED_HOSTS": "x.example"})
    assert result.returncode != 0
    assert "Refusing to start with DEBUG off" in result.stderr
    assert "SECRET_KEY" in result.stderr and "ODPORTAL_ENCRYPTION_KEYS" in result.stderr


def test_production_with_real_secrets_passes_check_deploy():
    from cryptography.fernet import Fernet

    result = _run_check(
        {
            "DEBUG": "false",
            "ALLOWED_HOSTS": "x.example",
            "SECRET_KEY": "s" * 20 + "9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0",
            "ODPORTAL_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        },
        "--deploy",
        "--fail-level",
        "WARNING",
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_docker_compose_defines_the_production_services_with_healthchecks():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) >= {"web", "worker", "beat", "postgres", "redis"}
    for name in ("web", "worker", "beat", "postgres", "redis"):
        assert "healthcheck" in services[name], name
    assert "env_file" in services["web"]


def test_the_key_hash_secret_takes_new_and_old_values_while_rotating():
    env = {**os.environ, "ODPORTAL_KEY_HASH_SECRET": "new-hash-secret, old-hash-secret"}
    code = (
        "from django.conf import settings as s; "
        "print(s.KEY_HASH_SECRET, s.KEY_HASH_PREVIOUS_SECRETS)"
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.stdout.strip().splitlines()[-1] == "new-hash-secret ['old-hash-secret']", (
        result.stderr
    )


def _commands(env_overrides: dict[str, str]) -> set[str]:
    from cryptography.fernet import Fernet

    env = {k: v for k, v in os.environ.items() if k not in {"ODPORTAL_DEVTOOLS", "DEBUG"}}
    env.update(
        SECRET_KEY="s" * 20 + "9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0",
        ODPORTAL_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        ALLOWED_HOSTS="x.example",
        **env_overrides,
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "help", "--commands"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


def test_devtools_are_not_installed_in_production_unless_asked_for():
    production = _commands({"DEBUG": "false"})
    assert {"demo", "bench"}.isdisjoint(production)
    assert {"poll", "import_offices"} <= production  # the product's own commands stay
    assert {"demo", "bench"} <= _commands({"DEBUG": "false", "ODPORTAL_DEVTOOLS": "1"})
    assert {"demo", "bench"} <= _commands({"DEBUG": "true"})


def _production_settings(code: str, **env_overrides: str) -> subprocess.CompletedProcess:
    from cryptography.fernet import Fernet

    dropped = {
        "OPENDENTAL_REMOTE_BASE_URL",
        "ODPORTAL_ALLOWED_NETWORKS",
        "DJANGO_ALLOW_ASYNC_UNSAFE",
    }
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(
        DEBUG="false", ALLOWED_HOSTS="x.example",
        SECRET_KEY="s" * 20 + "9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0",
        ODPORTAL_ENCRYPTION_KEYS=Fernet.generate_key().decode(), **env_overrides,
    )  # fmt: skip
    return subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_production_sends_remote_offices_to_open_dental_and_allows_no_private_network():
    code = (
        "from django.conf import settings as s; "
        "print(s.OPENDENTAL_REMOTE_BASE_URL, s.ODPORTAL_ALLOWED_NETWORKS)"
    )
    result = _production_settings(code)
    assert result.stdout.strip().splitlines()[-1] == "https://api.opendental.com/api/v1 []", (
        result.stderr
    )
    listed = _production_settings(code, ODPORTAL_ALLOWED_NETWORKS="10.8.0.0/16, 127.0.0.1/32")
    assert listed.stdout.strip().endswith("['10.8.0.0/16', '127.0.0.1/32']"), listed.stderr


def test_a_malformed_allowed_network_stops_start_up():
    result = _run_check({"ODPORTAL_ALLOWED_NETWORKS": "10.8.1.0/16"})
    assert result.returncode != 0
    assert "ODPORTAL_ALLOWED_NETWORKS: 10.8.1.0/16 has host bits set" in result.stderr
