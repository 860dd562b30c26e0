"""The aging recipe's strict row parser (the one guarantor row shape of a ShortQuery page)."""

from decimal import Decimal

import pytest

from integrations.offices.services.aging import recipe
from integrations.opendental import BadResponse


def test_aging_query_row_accepts_lower_case_query_columns():
    row = recipe.row_from_query(
        {
            "patnum": 7, "clinicnum": 2, "estbalance": Decimal("5.00"), "bal_0_30": 5,
            "bal_31_60": 0, "bal_61_90": 0, "balover90": Decimal("1.10"), "insest": 0,
            "baltotal": Decimal("6.10"),
        }
    )  # fmt: skip
    assert row.pat_num == 7
    assert row.clinic_num == 2
    assert row.bal_over_90 == Decimal("1.10")
    assert row.bal_total == Decimal("6.10")


def test_aging_query_row_missing_a_column_is_a_bad_response():
    row = {
        "patnum": 7, "estbalance": 0, "bal_0_30": 0, "bal_31_60": 0, "bal_61_90": 0,
        "balover90": 0, "insest": 0,
    }  # fmt: skip
    with pytest.raises(BadResponse, match="(?i)baltotal"):
        recipe.row_from_query(row)
