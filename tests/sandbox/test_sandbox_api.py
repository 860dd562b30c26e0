"""The sandbox's /api/v1 surface over real HTTP: auth, headers, shapes, paging, queries, aging."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest

from odsandbox.testing import RunningSandbox
from tests.helpers import SandboxApi

if TYPE_CHECKING:
    from collections.abc import Callable

AGING = ("Bal_0_30", "Bal_31_60", "Bal_61_90", "BalOver90")
RECIPE = (
    "SELECT patnum, estbalance, bal_0_30, bal_31_60, bal_61_90, balover90, insest, baltotal, "
    "clinicnum FROM patient WHERE patnum=guarantor AND (bal_0_30<>0 OR bal_31_60<>0 OR "
    "bal_61_90<>0 OR balover90<>0 OR insest<>0 OR baltotal<>0)"
)


def _all_pages(api: SandboxApi, path: str, limit: int = 100, **params: object) -> list[dict]:
    """Follow Offset paging until a short page."""
    rows: list[dict] = []
    while True:
        page = api.get(path, params={**params, "Offset": len(rows), "Limit": limit}).json()
        rows.extend(page)
        if len(page) < limit:
            return rows


def _query_all(api: SandboxApi, sql: str) -> list[dict]:
    """Page through a ShortQuery with Offset (100-row pages)."""
    rows: list[dict] = []
    while True:
        page = api.query(sql, Offset=len(rows)).json()
        rows.extend(page)
        if len(page) < 100:
            return rows


def test_missing_authorization_is_401(sandbox: RunningSandbox) -> None:
    r = httpx.get(f"{sandbox.base_url}/securityperms", headers={"Content-Type": "application/json"})
    assert r.status_code == 401
    assert "ODFHIR" in r.text


def test_unknown_developer_and_customer_keys_are_401(sandbox: RunningSandbox, cust: str) -> None:
    bad_dev = SandboxApi(sandbox.base_url, "A" * 16, cust).get("/securityperms")
    bad_cust = SandboxApi(sandbox.base_url, sandbox.manifest["developer_key"], "B" * 16).get(
        "/clinics"
    )
    assert (bad_dev.status_code, bad_dev.text) == (401, "Invalid developer key.")
    assert (bad_cust.status_code, bad_cust.text) == (401, "Invalid customer key.")
    assert bad_dev.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/json; charset=utf-8"])
def test_content_type_must_be_bare_application_json(
    api: SandboxApi, content_type: str | None
) -> None:
    headers = dict(api.http.headers)
    headers.pop("content-type")
    if content_type:
        headers["Content-Type"] = content_type
    r = httpx.get(f"{api.http.base_url}securityperms", headers=headers)
    assert r.status_code == 400
    assert r.text == "Content-Type must be application/json."


def test_unknown_query_parameter_is_400(api: SandboxApi) -> None:
    r = api.get("/patients/Simple", params={"page": 2})
    assert (r.status_code, r.text) == (400, "'page' is not a valid parameter.")


def test_unknown_route_is_404(api: SandboxApi) -> None:
    assert api.get("/patientz").status_code == 404


def test_securityperms_follow_the_key_permission_set(
    sandbox: RunningSandbox, api: SandboxApi
) -> None:
    cust = sandbox.manifest["offices"][0]["customer_key"]
    perms = {p["Permission"]: p["HasPermission"] for p in api.get("/securityperms").json()}
    assert perms["ApiReadAll"] == "true" and perms["ApiQueries"] == "true"
    assert perms["ApiPayments"] == "false"
    sandbox.state.set_permissions(cust, ("ApiReadAll",))
    try:
        perms = {p["Permission"]: p["HasPermission"] for p in api.get("/securityperms").json()}
        denied = api.query("SELECT 1")
    finally:
        sandbox.state.set_permissions(cust, ("ApiReadAll", "ApiQueries"))
    assert perms["ApiQueries"] == "false"
    assert denied.status_code == 401 and "permission" in denied.text


def test_patients_simple_pages_cover_every_patient_once(
    sandbox: RunningSandbox, api: SandboxApi
) -> None:
    store = sandbox.state.offices[0].store
    expected = store.fetch("SELECT PatNum FROM patient WHERE PatStatus <> 4 ORDER BY PatNum")
    rows = _all_pages(api, "/patients/Simple", limit=37)
    assert [r["PatNum"] for r in rows] == [r["PatNum"] for r in expected]
    assert all("serverDateTime" in r for r in rows)


def test_limit_above_cap_is_capped_at_100(api: SandboxApi) -> None:
    assert len(api.get("/patients/Simple", params={"Limit": 1000}).json()) == 100
    assert len(api.get("/patients/Simple").json()) == 100


def test_booleans_are_strings_and_empty_dates_are_0001_01_01(api: SandboxApi) -> None:
    patient = api.get("/patients/1").json()
    clinic = api.get("/clinics").json()[0]
    provider = api.get("/providers").json()[0]
    assert patient["Premed"] in ("true", "false")
    assert patient["AdmitDate"] == "0001-01-01"
    assert patient["PatStatus"] in ("Patient", "NonPatient", "Inactive", "Archived", "Deceased")
    assert clinic["IsHidden"] == "false"
    assert provider["IsHidden"] in ("true", "false")
    assert "Bal_0_30" not in patient


def test_clinics_are_empty_for_an_office_without_clinics(
    sandbox: RunningSandbox, office_api: Callable[[int], SandboxApi]
) -> None:
    assert office_api(1).get("/clinics").json() == []
    assert sandbox.manifest["offices"][1]["clinic_nums"] == []


def test_missing_patient_is_404(api: SandboxApi) -> None:
    assert (api.get("/patients/999999").status_code, api.get("/patients/999999").text) == (
        404,
        "Patient not found.",
    )
    assert api.get("/accountmodules/999999/Aging").status_code == 404


def test_preferences_expose_the_aging_recipe_values(api: SandboxApi) -> None:
    last = api.get("/preferences", params={"PrefName": "DateLastAging"}).json()
    due = api.get("/preferences", params={"PrefName": "AgingServiceTimeDue"}).json()
    assert len(last) == 1 and len(last[0]["ValueString"]) == 10
    assert due[0]["ValueString"].startswith("0001-01-01 0")


@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM patient",
        "UPDATE patient SET LName='x'",
        "DROP TABLE nosuchtable",
        "INSERT INTO apikey VALUES (99, 'x', 'y')",
        "CREATE TABLE t AS SELECT 1",
        "WITH g AS (SELECT 1) DELETE FROM patient",
        "PRAGMA writable_schema = 1",
    ],
)
def test_short_query_refuses_anything_not_read_only(api: SandboxApi, sql: str) -> None:
    r = api.query(sql)
    assert (r.status_code, r.text) == (401, "Query is not read-only.")


def test_short_query_syntax_error_is_400(api: SandboxApi) -> None:
    r = api.query("SELEC * FROM patient")
    assert r.status_code == 400
    assert r.text.startswith("Error in SQL: ")


def test_short_query_pages_by_100_and_keys_columns_as_written(
    sandbox: RunningSandbox, api: SandboxApi
) -> None:
    total = sandbox.state.offices[0].store.fetch("SELECT COUNT(*) AS n FROM patient")[0]["n"]
    rows = _query_all(api, "SELECT patnum, p.LName, DateTStamp AS stamp FROM patient p")
    assert total > 100
    assert len(rows) == total == len({r["patnum"] for r in rows})
    assert set(rows[0]) == {"patnum", "LName", "stamp"}
    assert "T" in rows[0]["stamp"] and len(rows[0]["stamp"]) == 19


def test_short_query_dates_come_back_with_a_t(api: SandboxApi) -> None:
    row = api.query("SELECT Birthdate FROM patient WHERE PatNum = 1").json()[0]
    assert row["Birthdate"].endswith("T00:00:00")


def test_date_t_stamp_returns_only_rows_changed_since(
    sandbox: RunningSandbox, api: SandboxApi
) -> None:
    before = api.get("/patients/Simple", params={"Limit": 1}).json()[0]["serverDateTime"]
    control = httpx.post(
        f"{sandbox.control_url}/offices/{_cust(sandbox)}/touch", json={"PatNums": [3, 5, 8]}
    )
    changed = api.get("/patients/Simple", params={"DateTStamp": before}).json()
    assert control.status_code == 200
    assert [r["PatNum"] for r in changed] == [3, 5, 8]


def _cust(sandbox: RunningSandbox, index: int = 0) -> str:
    return sandbox.manifest["offices"][index]["customer_key"]


def test_aging_agrees_across_query_account_module_report_and_totals(
    sandbox: RunningSandbox, api: SandboxApi
) -> None:
    recipe = _query_all(api, RECIPE)
    report = _all_pages(api, "/reports/Aging")
    totals = httpx.get(f"{sandbox.control_url}/offices/{_cust(sandbox)}/aging-totals").json()
    assert len(recipe) == len(report) == totals["all"]["guarantors"] == 40
    for column in (*AGING, "BalTotal"):
        assert round(sum(r[column.lower()] for r in recipe), 2) == totals["all"][column]
        assert round(sum(r[column] for r in report), 2) == totals["all"][column]
    assert round(sum(r["estbalance"] for r in recipe), 2) == totals["all"]["EstBalance"]
    for row in recipe[:8]:
        aging = api.get(f"/accountmodules/{row['patnum']}/Aging").json()
        assert [aging[c] for c in AGING] == [row[c.lower()] for c in AGING]
        assert aging["Total"] == row["baltotal"] and aging["InsEst"] == row["insest"]


def test_aging_totals_per_clinic_match_clinic_filtered_report(
    sandbox: RunningSandbox, api: SandboxApi
) -> None:
    totals = httpx.get(f"{sandbox.control_url}/offices/{_cust(sandbox)}/aging-totals").json()
    for clinic, expected in totals["clinics"].items():
        rows = _all_pages(api, "/reports/Aging", ClinicNum=clinic)
        assert len(rows) == expected["guarantors"]
        assert round(sum(r["BalTotal"] for r in rows), 2) == expected["BalTotal"]
    assert sum(c["guarantors"] for c in totals["clinics"].values()) == 40


def test_guarantor_balances_are_internally_consistent(api: SandboxApi) -> None:
    for row in _query_all(api, RECIPE):
        assert round(sum(row[c.lower()] for c in AGING), 2) == row["baltotal"]
        assert 0 <= row["insest"] <= max(row["baltotal"], 0)


def test_report_aging_as_of_an_earlier_date_shifts_buckets_deterministically(
    api: SandboxApi,
) -> None:
    params = {"DateAsOf": "2000-01-01"}
    first = _all_pages(api, "/reports/Aging", **params)
    second = _all_pages(api, "/reports/Aging", **params)
    today = _all_pages(api, "/reports/Aging")
    assert first == second != today
    for row in first:
        assert round(sum(row[c] for c in AGING), 2) == row["BalTotal"]
        assert row["PatientPortion"] == round(row["BalTotal"] - row["InsPayEst"], 2)


def test_public_test_pair_reaches_the_open_dental_test_office(sandbox: RunningSandbox) -> None:
    test_api = SandboxApi(sandbox.base_url, "NFF6i0KrXrxDkZHt", "VzkmZEaUWOjnQX2z")
    r = test_api.get("/preferences", params={"PrefName": "PracticeTitle"})
    assert r.json()[0]["ValueString"] == "Open Dental Test Office"
