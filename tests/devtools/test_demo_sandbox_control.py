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


def test_the_demo_portal_lists_one_untracked_billed_key_and_one_disabled(settings, tmp_path):
    from integrations.devtools.demo import demo_portal_seed
    from integrations.opendental import DeveloperPortalClient

    settings.VAR_DIR = tmp_path
    with demo_sandbox(port=0) as sandbox:
        closed = demo_portal_seed(sandbox.state)
        m = sandbox.manifest
        listed = DeveloperPortalClient(
            sandbox.base_url, m["developer_key"], m["developer_portal_key"]
        ).api_keys()
    tracked = {o["customer_key"] for o in m["offices"]}
    extra = {k.dev_ref_id: k for k in listed if k.customer_key not in tracked}
    assert set(extra) == {"reseller-2019", "old-town"}
    assert extra["reseller-2019"].key_status == "Enabled" and extra["reseller-2019"].is_assigned
    assert extra["old-town"].key_status == "DisabledByDeveloper"
    assert extra["old-town"].customer_key == closed
