"""A public Open Dental client from the package registry, unchanged, against the sandbox.

``opendental-sdk`` (pinned, so a new release cannot change what is tested) is installed with uv
into an environment of its own under tmp, and ``public_sdk_calls.py`` runs there, reporting each
call group. The test skips only when the registry cannot be reached.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from odsandbox.config import OfficeSpec, SandboxConfig
from odsandbox.testing import running_sandbox

SDK = "opendental-sdk==3.0.1"
SCRIPT = Path(__file__).with_name("public_sdk_calls.py")
# What uv prints when it cannot reach the registry (as opposed to, say, a missing release).
_OFFLINE = (
    "failed to fetch", "error sending request", "dns error", "connection refused",
    "could not connect", "timed out", "failed to lookup address", "network is unreachable",
)  # fmt: skip


@pytest.fixture(scope="module")
def sdk_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of a fresh environment holding only the SDK and its dependencies."""
    uv = os.environ.get("UV") or shutil.which("uv")
    assert uv, "uv is needed to build the SDK's environment"
    venv = tmp_path_factory.mktemp("public-sdk") / "venv"
    subprocess.run([uv, "venv", "-q", str(venv), "--python", sys.executable], check=True)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [uv, "pip", "install", "-q", "--python", str(python), SDK],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if install.returncode != 0:
        if any(marker in install.stderr.lower() for marker in _OFFLINE):
            pytest.skip(f"the package registry cannot be reached: {install.stderr.strip()[-300:]}")
        pytest.fail(f"installing {SDK} failed: {install.stderr.strip()[-1000:]}")
    return python


def _run_script(python: Path, base_url: str, dev: str, cust: str, *groups: str) -> dict:
    """Run the SDK script in its environment; its per-group results."""
    done = subprocess.run(
        [str(python), str(SCRIPT), base_url, dev, cust, *groups],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def results(sdk_python: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Every call group's outcome against an unthrottled sandbox (the SDK does not pace)."""
    config = SandboxConfig(
        offices=1,
        guarantors_per_office=20,
        throttle_scale=0,
        data_dir=str(tmp_path_factory.mktemp("sdk-sandbox")),
    )
    with running_sandbox(config) as sb:
        cust = sb.manifest["offices"][0]["customer_key"]
        return _run_script(sdk_python, sb.base_url, sb.manifest["developer_key"], cust)


@pytest.mark.parametrize(
    "group",
    [
        "patients_get",
        "patients_list",
        "providers_list",
        "providers_get",
        "preferences",
        "appointments",
        "queries",
    ],
)
def test_the_public_sdk_call_group_passes(results: dict, group: str) -> None:
    assert results[group] == {"ok": True}


def test_the_sdk_waits_out_a_throttle_429_by_its_whole_second_retry_after(
    sdk_python: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # urllib3's retry (inside requests) reads Retry-After as an integer or an HTTP date: a
    # decimal makes it raise instead of waiting. A paid key paced at 300 ms: back-to-back calls.
    config = SandboxConfig(
        office_specs=[OfficeSpec("Paced", guarantors=5)],
        throttle_scale=0.3,
        data_dir=str(tmp_path_factory.mktemp("sdk-throttled")),
    )
    with running_sandbox(config) as sb:
        cust = sb.manifest["offices"][0]["customer_key"]
        outcome = _run_script(
            sdk_python, sb.base_url, sb.manifest["developer_key"], cust, "back_to_back"
        )
        stats = sb.state.stats()
    assert outcome == {"back_to_back": {"ok": True}}
    assert stats["throttle_violations"] >= 1  # it was throttled, and recovered
