"""The typed ShortQuery fast path (msgspec) accepts exactly what the strict dict path accepts,
and turns it into the same rows."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from integrations.offices.services.aging import recipe, snapshots
from integrations.opendental import BadResponse, NullPacer, OpenDentalClient, parsing

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
VALID = {
    "patnum": 12, "lname": "Smith", "fname": "Ann", "clinicnum": 3, "estbalance": 10.5,
    "bal_0_30": 1.25, "bal_31_60": 0.0, "bal_61_90": 0, "balover90": -2.5, "insest": 0.0,
    "baltotal": 10.5,
}  # fmt: skip
junk = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=5),
    st.sampled_from([3.0, 1e13, -1e13, 999999999999.99, 1e400, "12", [], {}]),
)  # fmt: skip


def _typed(body: bytes) -> list[snapshots.Row]:
    """What the worker does: the client's typed ShortQuery page (dict pages fall back), then
    rows; the body is served by an httpx MockTransport."""
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
    client = OpenDentalClient(
        "http://od.test/api/v1", "DevKey0123456789", "CustKey012345678", pacer=NullPacer(),
        max_retries=0, http_client=httpx.Client(transport=transport),
    )  # fmt: skip
    return recipe.rows_from_query(client.short_query(recipe.AGING_SQL, row_type=recipe.QueryRow))


def _strict(body: bytes) -> list[snapshots.Row]:
    """The reference: plain JSON with Decimal money, every row through ``row_from_query``."""
    data = parsing.expect_list(parsing.loads(body), "ShortQuery")
    return [recipe.row_from_query(parsing.expect_object(r, "ShortQuery row")) for r in data]


def _outcome(parse, body: bytes):
    try:
        return parse(body)
    except BadResponse:
        return "BadResponse"


def test_a_valid_page_is_decoded_typed_with_exact_decimals():
    body = json.dumps([VALID, {**VALID, "patnum": 13, "lname": "", "clinicnum": 0}]).encode()
    page = parsing.loads_typed(body, list[recipe.QueryRow], recipe.QueryRow.matches_wire)
    assert [type(r) for r in page] == [recipe.QueryRow, recipe.QueryRow]
    rows = recipe.rows_from_query(page)
    assert rows == _strict(body)
    assert rows[0].bal_0_30 == Decimal("1.25") and rows[0].name == "Smith, Ann"
    assert rows[1].name == "Ann"


def test_a_page_in_other_key_case_takes_the_dict_path_with_the_same_rows():
    body = json.dumps([{k.upper(): v for k, v in VALID.items()}]).encode()
    assert type(parsing.loads_typed(body, list[recipe.QueryRow])[0]) is dict
    assert _typed(body) == _strict(body) != []


@pytest.mark.parametrize("amount", [1e12, -1e12, 1e400])
def test_an_amount_the_database_cannot_hold_is_a_bad_response_on_both_paths(amount):
    body = json.dumps([{**VALID, "baltotal": amount}]).replace("Infinity", "1e400").encode()
    assert _outcome(_typed, body) == _outcome(_strict, body) == "BadResponse"


@FUZZ
@given(field=st.sampled_from([*VALID, "extra"]), value=junk, drop=st.booleans())
@example(field="patnum", value=2**63, drop=False)
@example(field="clinicnum", value=None, drop=False)
@example(field="lname", value=None, drop=False)
@example(field="baltotal", value=1e13, drop=False)
@example(field="estbalance", value="0", drop=False)
@example(field="lname", value='O"Neil', drop=False)
def test_typed_and_strict_paths_agree_on_any_one_field_changed(field, value, drop):
    row = dict(VALID)
    if drop:
        row.pop(field, None)
    else:
        row[field] = value
    body = json.dumps([row]).encode()
    assert _outcome(_typed, body) == _outcome(_strict, body)
