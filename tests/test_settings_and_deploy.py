"""Settings refuse unsafe production starts; compose file parses with the expected services;
the production web server serves the static files."""

import os
import re
import subprocess
import sys
import tomllib

import httpx
import pytest
import yaml

from tests.helpers import ROOT, embedded_env, free_port, wait_for_port


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def _run_check(
    env_overrides: dict[str, str], *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    dropped = {"SECRET_KEY", "ODPORTAL_ENCRYPTION_KEYS", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env = {k: v for k, v in (os.environ if env is None else env).items() if k not in dropped}
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


def test_debug_is_off_when_the_variable_is_unset():
    unset = {k: v for k, v in os.environ.items() if k != "DEBUG"}
    refused = _run_check({}, env=unset)
    assert refused.returncode != 0 and "Refusing to start with DEBUG off" in refused.stderr
    env = {**unset, "ALLOWED_HOSTS": "x.example", "SECRET_KEY": "s" * 60,
           "ODPORTAL_ENCRYPTION_KEYS": _fernet_key()}  # fmt: skip
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", "from django.conf import settings as s; "
         "print(s.DEBUG, s.DEVTOOLS)"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.stdout.split()[-2:] == ["False", "False"], result.stderr


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


def _locked_closure(lock: dict, roots: list[dict]) -> set[str]:
    """Every package name reachable from ``roots`` (uv.lock dependency entries)."""
    packages = {p["name"]: p for p in lock["package"]}
    seen: set[str] = set()
    todo = [d["name"] for d in roots]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += [d["name"] for d in packages[name].get("dependencies", [])]
    return seen


def test_the_production_image_installs_no_sandbox_web_server():
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    project = next(p for p in lock["package"] if p["name"] == "odportal")
    production = _locked_closure(lock, project["dependencies"])
    sandbox = _locked_closure(lock, project["dev-dependencies"]["sandbox"])
    assert {"django", "gunicorn", "celery", "httpx"} <= production
    assert {"starlette", "uvicorn"} <= sandbox
    assert not {"starlette", "uvicorn", "uvloop", "httptools", "watchfiles"} & production
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert {"dev", "sandbox"} <= set(pyproject["tool"]["uv"]["default-groups"])  # uv run has it
    assert "uv sync --frozen --no-default-groups" in (ROOT / "Dockerfile").read_text()


@pytest.mark.server
def test_gunicorn_with_debug_off_serves_the_hashed_compressed_static_files(tmp_path):
    env = embedded_env(tmp_path / "var")
    env.update(
        DEBUG="false",
        SECRET_KEY="s" * 60,
        ODPORTAL_ENCRYPTION_KEYS=_fernet_key(),
        ALLOWED_HOSTS="127.0.0.1",
        BEHIND_TLS_PROXY="true",  # X-Forwarded-Proto: https below, as the TLS proxy sends it
        STATIC_ROOT=str(tmp_path / "static"),
    )
    collect = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert collect.returncode == 0, collect.stderr
    port = free_port()
    argv = [sys.executable, "-m", "gunicorn", "odportal.wsgi", "--bind", f"127.0.0.1:{port}"]
    with (tmp_path / "gunicorn.log").open("w") as log:
        server = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, timeout=60)
        # The first request waits for the worker to import the project: slow on a busy machine.
        http = httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"X-Forwarded-Proto": "https"},
            timeout=60,
        )  # fmt: skip
        page = http.get("/accounts/login/")
        assert page.status_code == 200, (tmp_path / "gunicorn.log").read_text()[-3000:]
        css = re.search(r'href="(/static/css/app\.[0-9a-f]{12}\.css)"', page.text)
        htmx = re.search(r'src="(/static/django_htmx/htmx[^"]*\.[0-9a-f]{12}\.js)"', page.text)
        assert css and htmx, page.text[:2000]
        for url, kind in ((css[1], "text/css"), (htmx[1], "javascript")):
            response = http.get(url, headers={"Accept-Encoding": "gzip"})
            assert response.status_code == 200, url
            assert kind in response.headers["Content-Type"]
            assert response.headers["Content-Encoding"] == "gzip"  # the compressed copy
            assert "immutable" in response.headers["Cache-Control"]  # hashed: cached forever
            assert len(response.content) > 1000
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.parametrize("before", ["missing", "world-readable"])
def test_var_holds_the_database_and_broker_readable_by_the_owner_only(tmp_path, before):
    var = tmp_path / "var"
    if before == "world-readable":  # made by an older version, or under a lax umask
        (var / "broker" / "queue").mkdir(parents=True, mode=0o755)
        (var / "odportal.sqlite3").touch(mode=0o644)
        for path in (var, var / "broker", var / "broker" / "queue"):
            path.chmod(0o755)
    result = _run_check({}, env={**embedded_env(var), "DEBUG": "true"})
    assert result.returncode == 0, result.stderr
    for folder in (var, var / "broker", var / "broker" / "queue", var / "broker" / "control"):
        assert folder.stat().st_mode & 0o777 == 0o700, folder
    assert (var / "odportal.sqlite3").stat().st_mode & 0o777 == 0o600


def test_the_replaced_trust_x_forwarded_for_setting_stops_start_up_naming_its_successor():
    result = _run_check({"DEBUG": "true", "ODPORTAL_TRUST_X_FORWARDED_FOR": "true"})
    assert result.returncode != 0 and "ODPORTAL_TRUSTED_PROXIES" in result.stderr


def test_compose_publishes_gunicorn_on_the_loopback_only_behind_the_one_trusted_proxy():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    published = [str(p) for s in compose["services"].values() for p in s.get("ports", [])]
    assert published == ["127.0.0.1:8000:8000"]  # the proxy on the host reaches it; no one else
    lines = (ROOT / ".env.example").read_text().splitlines()
    example = dict(line.split("=", 1) for line in lines if "=" in line and line[0] != "#")
    assert example["ODPORTAL_TRUSTED_PROXIES"] == "1" and example["BEHIND_TLS_PROXY"] == "true"
    readme = (ROOT / "README.md").read_text()
    assert "`ODPORTAL_TRUSTED_PROXIES=1`" in readme and "`127.0.0.1:8000`" in readme


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
