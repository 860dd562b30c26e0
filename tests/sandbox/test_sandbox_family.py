"""The sandbox's Family and Account modules over real HTTP: the Patient Select search
(GET /patients), insurance, PatientBalances and ServiceDateView."""

from __future__ import annotations

import re

from odsandbox.testing import RunningSandbox
from tests.helpers import SandboxApi

# apipatients.html, "Patients GET (multiple)": the Patient Select window's fields.
SELECT_FIELDS = [
    "PatNum", "LName", "FName", "MiddleI", "Preferred", "PatStatus", "Birthdate", "SSN",
    "Address", "Address2", "City", "State", "Zip", "HmPhone", "WkPhone", "WirelessPhone",
    "Email", "priProvAbbr", "secProvAbbr", "BillingType", "ChartNumber", "ClinicNum",
    "clinicAbbr", "siteDesc", "TxtMsgOk",
]  # fmt: skip
LEDGER_FIELDS = [
    "ObjectType", "PrimaryKey", "Type", "ServiceDate", "TransDate", "Patient", "PatNum",
    "Reference", "Charge", "Credit", "Provider", "InsBal", "AcctBal",
]  # fmt: skip


def _all_pages(api: SandboxApi, path: str, limit: int = 100, **params: object) -> list[dict]:
    rows: list[dict] = []
    while True:
        page = api.get(path, params={**params, "Offset": len(rows), "Limit": limit}).json()
        rows.extend(page)
        if len(page) < limit:
            return rows


def test_patient_select_short_fields_sorted_by_name(
    sandbox: RunningSandbox, api: SandboxApi
) -> None:
    rows = _all_pages(api, "/patients", limit=45)
    visible = sandbox.state.offices[0].store.fetch(
        "SELECT PatNum FROM patient WHERE PatStatus NOT IN (3, 4, 5)"
    )
    assert rows and all(list(r) == SELECT_FIELDS for r in rows)
    assert {r["PatNum"] for r in rows} == {r["PatNum"] for r in visible}
    names = [(r["LName"], r["FName"], r["PatNum"]) for r in rows]
    assert names == sorted(names)
    assert {r["PatStatus"] for r in rows} <= {"Patient", "NonPatient", "Inactive", "Prospective"}


def test_patient_select_name_prefix_is_case_insensitive(api: SandboxApi) -> None:
    first = api.get("/patients", params={"Limit": 1}).json()[0]
    prefix = first["LName"][:2].lower()
    rows = _all_pages(api, "/patients", LName=prefix)
    by_both = _all_pages(api, "/patients", LName=first["LName"].upper(), FName=first["FName"][:1])
    assert rows and all(r["LName"].lower().startswith(prefix) for r in rows)
    assert first["PatNum"] in {r["PatNum"] for r in by_both}
    assert api.get("/patients", params={"LName": "Zzyzx"}).json() == []


def test_patient_select_phone_matches_digits_of_any_phone(
    sandbox: RunningSandbox, api: SandboxApi
) -> None:
    patient = api.get("/patients", params={"Limit": 1}).json()[0]
    digits = re.sub(r"\D", "", patient["HmPhone"])
    rows = _all_pages(api, "/patients", Phone=f"{digits[:3]}-{digits[3:]}")
    assert patient["PatNum"] in {r["PatNum"] for r in rows}
    assert all(
        digits in re.sub(r"\D", "", r["HmPhone"] + "|" + r["WkPhone"] + "|" + r["WirelessPhone"])
        for r in rows
    )


def test_patient_select_flags_and_clinic_filters(sandbox: RunningSandbox, api: SandboxApi) -> None:
    store = sandbox.state.offices[0].store
    guarantors = _all_pages(api, "/patients", guarOnly="true")
    active = _all_pages(api, "/patients", hideInactive="true")
    archived = _all_pages(api, "/patients", showArchived="true")
    clinic_one = _all_pages(api, "/patients", clinicNums="1")
    clinics = _all_pages(api, "/patients", clinicNums="1,2")
    by_abbr = _all_pages(api, "/patients", clinicAbbr=clinic_one[0]["clinicAbbr"][:3])
    sql_guarantors = store.fetch(
        "SELECT COUNT(*) AS n FROM patient WHERE PatNum = Guarantor AND PatStatus NOT IN (3, 4, 5)"
    )[0]["n"]
    assert len(guarantors) == sql_guarantors
    assert "Inactive" not in {r["PatStatus"] for r in active}
    assert {"Archived", "Deceased"} & {r["PatStatus"] for r in archived}
    assert {r["ClinicNum"] for r in clinic_one} == {1}
    assert {r["ClinicNum"] for r in clinics} == {1, 2}
    assert {r["PatNum"] for r in by_abbr} == {r["PatNum"] for r in clinic_one}
    assert api.get("/patients", params={"guarOnly": "yes"}).status_code == 400
    assert api.get("/patients", params={"clinicNums": "1,x"}).status_code == 400
    assert api.get("/patients", params={"Country": "Canada"}).json() == []


def test_patient_select_by_subscriber_id(sandbox: RunningSandbox, api: SandboxApi) -> None:
    sub = api.get("/inssubs", params={"Limit": 1}).json()[0]
    covered = {
        p["PatNum"] for p in api.get("/patplans", params={"InsSubNum": sub["InsSubNum"]}).json()
    }
    rows = _all_pages(api, "/patients", SubscriberId=sub["SubscriberID"], showArchived="true")
    assert covered and {r["PatNum"] for r in rows} <= covered
    assert sub["Subscriber"] in {r["PatNum"] for r in rows}


def test_insurance_rows_link_up(api: SandboxApi) -> None:
    carriers = {c["CarrierNum"]: c for c in _all_pages(api, "/carriers")}
    plans = {p["PlanNum"]: p for p in _all_pages(api, "/insplans")}
    subs = {s["InsSubNum"]: s for s in _all_pages(api, "/inssubs")}
    patplans = _all_pages(api, "/patplans")
    assert carriers and plans and subs and patplans
    assert all(p["CarrierNum"] in carriers for p in plans.values())
    assert all(s["PlanNum"] in plans for s in subs.values())
    assert all(pp["InsSubNum"] in subs for pp in patplans)
    assert {pp["Relationship"] for pp in patplans} <= {"Self", "Spouse", "Child"}
    assert all(c["IsHidden"] in ("true", "false") and c["NoSendElect"] == "SendElect"
               for c in carriers.values())  # fmt: skip
    assert all(s["ReleaseInfo"] == "true" and s["DateTerm"] == "0001-01-01" for s in subs.values())
    sub = next(iter(subs.values()))
    mine = api.get("/inssubs", params={"Subscriber": sub["Subscriber"]}).json()
    assert sub in mine and {s["Subscriber"] for s in mine} == {sub["Subscriber"]}
    selves = [pp for pp in patplans if pp["PatNum"] == sub["Subscriber"]]
    assert any(pp["Relationship"] == "Self" for pp in selves)


def test_appointments_carry_their_patients_plans(sandbox: RunningSandbox, api: SandboxApi) -> None:
    store = sandbox.state.offices[0].store
    row = store.fetch(
        "SELECT AptNum, PatNum, InsPlan1 FROM appointment WHERE InsPlan1 <> 0 LIMIT 1"
    )[0]
    coverage = api.get("/patplans", params={"PatNum": row["PatNum"]}).json()
    primary = next(pp for pp in coverage if pp["Ordinal"] == 1)
    sub = [s for s in _all_pages(api, "/inssubs") if s["InsSubNum"] == primary["InsSubNum"]][0]
    assert api.get(f"/appointments/{row['AptNum']}").json()["InsPlan1"] == sub["PlanNum"]


def test_patient_balances_list_the_family_then_entire_family(
    sandbox: RunningSandbox, api: SandboxApi
) -> None:
    store = sandbox.state.offices[0].store
    guarantor = store.fetch(
        "SELECT Guarantor FROM patient WHERE PatStatus <> 4 GROUP BY Guarantor "
        "HAVING COUNT(*) > 2 AND SUM(PatStatus = 4) = 0 LIMIT 1"
    )[0]["Guarantor"]
    members = store.fetch("SELECT * FROM patient WHERE Guarantor = ? ORDER BY PatNum", (guarantor,))
    rows = api.get(f"/accountmodules/{members[1]['PatNum']}/PatientBalances").json()
    assert [r["PatNum"] for r in rows] == [m["PatNum"] for m in members] + [guarantor]
    assert rows[0]["Name"] == f"{members[0]['LName']}, {members[0]['FName']}"
    assert rows[-1]["Name"] == "Entire Family"
    assert rows[-1]["Balance"] == round(sum(m["EstBalance"] for m in members), 2)
    assert rows[-1]["Balance"] == members[0]["BalTotal"]


def test_one_person_family_has_no_entire_family_row(
    sandbox: RunningSandbox, api: SandboxApi
) -> None:
    single = sandbox.state.offices[0].store.fetch(
        "SELECT PatNum, LName, FName FROM patient GROUP BY Guarantor "
        "HAVING COUNT(*) = 1 AND PatStatus <> 4 LIMIT 1"
    )[0]
    rows = api.get(f"/accountmodules/{single['PatNum']}/PatientBalances").json()
    missing = api.get("/accountmodules/99999999/PatientBalances")
    assert [(r["PatNum"], r["Name"]) for r in rows] == [
        (single["PatNum"], f"{single['LName']}, {single['FName']}")
    ]
    assert missing.status_code == 404


def test_service_date_view_is_strings_and_ends_at_the_balances(
    sandbox: RunningSandbox, api: SandboxApi
) -> None:
    store = sandbox.state.offices[0].store
    patient = store.fetch(
        "SELECT p.* FROM patient p WHERE PatStatus = 0 AND EXISTS (SELECT 1 FROM procedurelog l "
        "WHERE l.PatNum = p.PatNum AND l.ProcStatus = 2) AND EXISTS (SELECT 1 FROM patient o "
        "WHERE o.Guarantor = p.Guarantor AND o.PatNum <> p.PatNum) LIMIT 1"
    )[0]
    own = api.get(f"/accountmodules/{patient['PatNum']}/ServiceDateView").json()
    fam = api.get(f"/accountmodules/{patient['PatNum']}/ServiceDateView",
                  params={"isFamily": "true"}).json()  # fmt: skip
    fees = store.fetch(
        "SELECT SUM(ProcFee) AS fees FROM procedurelog WHERE PatNum = ? AND ProcStatus = 2",
        (patient["PatNum"],),
    )[0]["fees"]
    family_total = store.fetch(
        "SELECT SUM(EstBalance) AS total FROM patient WHERE Guarantor = ? AND PatStatus <> 4",
        (patient["Guarantor"],),
    )[0]["total"]
    for lines in (own, fam):
        assert all(list(x) == LEDGER_FIELDS for x in lines)
        assert all(isinstance(v, str) for x in lines for v in x.values())
    procs = [x for x in own if x["ObjectType"] == "Procedure"]
    assert round(sum(float(x["Charge"]) for x in procs), 2) == round(fees, 2)
    assert own[-1]["Type"] == "Overall Total"
    assert float(own[-1]["AcctBal"]) == round(patient["EstBalance"], 2)
    assert float(fam[-1]["AcctBal"]) == round(family_total, 2)
    assert {x["PatNum"] for x in own if x["PatNum"]} == {str(patient["PatNum"])}
    assert len({x["PatNum"] for x in fam if x["PatNum"]}) >= 1
    assert api.get(f"/accountmodules/{patient['PatNum']}/ServiceDateView",
                   params={"isFamily": "maybe"}).status_code == 400  # fmt: skip
