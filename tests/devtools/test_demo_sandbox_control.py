"""The demo's sandbox serves its control API, on loopback only (README's curl lines)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

import httpx

from integrations.devtools.demo import demo_sandbox


def test_the_demo_sandbox_serves_its_control_api_on_loopback(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    with demo_sandbox(port=0) as sandbox:
        manifest = httpx.get(f"{sandbox.control_url}/manifest").json()
        key = manifest["offices"][0]["customer_key"]
        fault = httpx.post(f"{sandbox.control_url}/offices/{key}/faults", json={"latency_ms": 5})
        portal = httpx.post(f"{sandbox.control_url}/portal/faults", json={"reset": True})
    host = urlsplit(sandbox.control_url).hostname
    assert ipaddress.ip_address(host).is_loopback
    assert manifest["developer_portal_key"] and fault.json()["latency_ms"] == 5
    assert portal.status_code == 200
