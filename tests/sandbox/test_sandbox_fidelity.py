"""Details public clients trip over: whole-second Retry-After, the documented provider shape and
ClinicNum rule, Gender/PatStatus labels, and DateFormatString/DateTimeFormatString everywhere."""

from __future__ import annotations

import re

import httpx
import pytest

from odsandbox.config import OfficeSpec, SandboxConfig
from odsandbox.testing import RunningSandbox, running_sandbox
from tests.helpers import SandboxApi

# apiproviders.html, both examples: the fields in this order.
PROVIDER_FIELDS = [
    "ProvNum", "Abbr", "LName", "FName", "MI", "Suffix", "FeeSched", "Specialty", "SSN",
    "StateLicense", "IsSecondary", "provColor", "IsHidden", "UsingTIN", "SigOnFile",
    "NationalProvID", "DateTStamp", "IsNotPerson", "ProvStatus", "IsHiddenReport", "Birthdate",
    "SchedNote", "PreferredName", "serverDateTime",
]  # fmt: skip
FLAGS = ("IsSecondary", "IsHidden", "UsingTIN", "SigOnFile", "IsNotPerson", "IsHiddenReport")


def test_every_429_carries_retry_after_in_whole_seconds_an_int_parser_reads() -> None:
    spec = OfficeSpec("Free Office", guarantors=3, permissions=("ApiReadAll",))
    config = SandboxConfig(office_specs=[spec], throttle_scale=0.01)
    with running_sandbox(config) as sb:
        cust = sb.manifest["offices"][0]["customer_key"]
        headers = {
            "Authorization": f"ODFHIR {sb.manifest['developer_key']}/{cust}",
            "Content-Type": "application/json",
        }
        with httpx.Client(base_url=sb.base_url, headers=headers) as http:
            answers = [http.get("/clinics") for _ in range(4)]
    throttled = [r for r in answers if r.status_code == 429]
    assert throttled  # 50 ms between requests is asked, none waits
    # A 50 ms wait rounds up to 1 s: never 0, never a fraction.
    assert all(int(r.headers["Retry-After"]) == 1 for r in throttled)


def test_providers_carry_the_documented_fields_in_order(api: SandboxApi) -> None:
    providers = api.get("/providers").json()
    assert all(list(p) == PROVIDER_FIELDS for p in providers)
    assert all(re.fullmatch(r"\d{1,3},\d{1,3},\d{1,3}", p["provColor"]) for p in providers)
    assert all(p[flag] in ("true", "false") for p in providers for flag in FLAGS)
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", p["Birthdate"]) for p in providers)
    assert "0001-01-01" in {p["Birthdate"] for p in providers}
    assert all(
        re.fullmatch(r"\d{4}-\d{2}-\d{2} \d\d:\d\d:\d\d", p["serverDateTime"]) for p in providers
    )


def test_providers_by_clinic_are_the_visible_unrestricted_or_restricted_there(
    api: SandboxApi, sandbox: RunningSandbox
) -> None:
    clinic = sandbox.manifest["offices"][0]["clinic_nums"][0]
    links = api.query("SELECT ProvNum, ClinicNum FROM providerclinic").json()
    hidden = {
        r["ProvNum"] for r in api.query("SELECT ProvNum FROM provider WHERE IsHidden=1").json()
    }
    everyone = {p["ProvNum"] for p in api.get("/providers").json()}
    restricted = {r["ProvNum"] for r in links}
    here = {r["ProvNum"] for r in links if r["ClinicNum"] == clinic}
    rows = api.get("/providers", params={"ClinicNum": clinic}).json()
    assert {p["ProvNum"] for p in rows} == ((everyone - restricted) | here) - hidden
    assert everyone - restricted and restricted - here  # both kinds exist in the data
    # The doc's example: an empty string, not the server's time and not left out.
    assert all(p["serverDateTime"] == "" for p in rows)


def test_providers_for_an_unknown_clinic_are_404(api: SandboxApi) -> None:
    response = api.get("/providers", params={"ClinicNum": 999})
    assert (response.status_code, response.text) == (404, "Clinic not found.")


def test_gender_other_is_a_filter_and_patstatus_deleted_is_not(api: SandboxApi) -> None:
    assert api.get("/patients/Simple", params={"Gender": "Other"}).status_code == 200
    deleted = api.get("/patients/Simple", params={"PatStatus": "Deleted"})
    assert (deleted.status_code, deleted.text) == (400, "'Deleted' is not a valid PatStatus.")
    listed = api.get("/patients/Simple", params={"Limit": 100}).json()
    assert listed and all(p["PatStatus"] != "Deleted" for p in listed)


@pytest.mark.parametrize(
    "path",
    ["/securityperms", "/preferences", "/clinics", "/providers", "/patients/Simple",
     "/patients/1", "/accountmodules/1/Aging", "/reports/Aging"],
)  # fmt: skip
def test_every_method_accepts_the_format_parameters(api: SandboxApi, path: str) -> None:
    params = {"DateFormatString": "MM/dd/yyyy", "DateTimeFormatString": "yyyy-MM-dd HH:mm:ss"}
    assert api.get(path, params=params).status_code == 200


def test_date_and_datetime_patterns_reformat_every_date_field(api: SandboxApi) -> None:
    plain = api.get("/patients/1").json()
    formatted = api.get(
        "/patients/1",
        params={"dateformatstring": "MM/dd/yyyy", "DateTimeFormatString": "M/d/yyyy h:mm tt"},
    ).json()
    y, m, d = plain["Birthdate"].split("-")
    assert formatted["Birthdate"] == f"{m}/{d}/{y}"
    assert re.fullmatch(r"\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d\d [AP]M", formatted["DateTStamp"])
    assert formatted["AdmitDate"] == "01/01/0001"  # no value: formatted like any date [U]
    assert {k: v for k, v in formatted.items() if k not in {"Birthdate", "DateTStamp",
            "AdmitDate", "DateFirstVisit", "SecDateEntry"}} == {
        k: v for k, v in plain.items() if k not in {"Birthdate", "DateTStamp", "AdmitDate",
        "DateFirstVisit", "SecDateEntry"}}  # fmt: skip


def test_list_rows_server_time_follows_the_datetime_pattern(api: SandboxApi) -> None:
    rows = api.get("/providers", params={"DateTimeFormatString": "yyyyMMddHHmmss"}).json()
    assert all(re.fullmatch(r"\d{14}", p["serverDateTime"]) for p in rows)
    assert all(re.fullmatch(r"\d{14}", p["DateTStamp"]) for p in rows)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d", p["Birthdate"]) for p in rows)  # a date


def test_a_preference_value_holding_a_date_is_text_and_left_as_stored(api: SandboxApi) -> None:
    params = {"PrefName": "DateLastAging", "DateFormatString": "MM/dd/yyyy"}
    [pref] = api.get("/preferences", params=params).json()
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", pref["ValueString"])


def test_shortquery_accepts_the_patterns_and_keeps_its_own_t_form(api: SandboxApi) -> None:
    sql = "SELECT PatNum, DateTStamp FROM patient WHERE PatNum = 1"
    [row] = api.query(sql, DateTimeFormatString="MM/dd/yyyy").json()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", row["DateTStamp"])


@pytest.mark.parametrize("pattern", ["'unclosed", "q", "ffffffff"])
def test_a_pattern_dotnet_refuses_is_400(api: SandboxApi, pattern: str) -> None:
    response = api.get("/providers", params={"DateTimeFormatString": pattern})
    assert response.status_code == 400
    assert response.text.startswith("'DateTimeFormatString' is not a valid format")
