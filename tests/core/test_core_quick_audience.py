"""Quick Audience: fixed 3-level ranges and high/low comparison, 8 customer types (docs/scoring.md)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from rfmsync.core.aggregate import CustomerMetrics
from rfmsync.core.errors import SchemeError
from rfmsync.core.rfm import RfmSettings, score
from rfmsync.core.schemes import QUICK_AUDIENCE, SchemeContext
from rfmsync.core.scoring import bands_from_bounds

# docs/scoring.md's table, (R high, F high, M high) -> type.
TYPES = {
    (True, True, True): "High Value", (False, True, True): "Key Keep",
    (True, False, True): "Key Develop", (False, False, True): "Key Retain",
    (True, True, False): "General Value", (False, True, False): "General Keep",
    (True, False, False): "General Develop", (False, False, False): "Potential",
}


def metrics(recency: list[int], frequency: list[float], monetary: list[float]) -> CustomerMetrics:
    n = len(recency)
    return CustomerMetrics(
        customer_ids=[f"c{i}" for i in range(n)],
        customer_index=np.arange(n, dtype=np.int64),
        recency_days=np.asarray(recency, dtype=np.int64),
        frequency=np.asarray(frequency, dtype=np.float64),
        monetary=np.asarray(monetary, dtype=np.float64),
    )


def test_all_eight_types_with_mean_comparison() -> None:
    # High: 10 days -> R3, 6 orders -> F3, 1500 spend -> M3. Low: 200 days -> R1, 1 order -> F1, 50 -> M1.
    # Each metric is high for 4 of 8 customers, so every mean score is (4*3 + 4*1) / 8 = 2.0.
    combos: list[tuple[bool, bool, bool]] = [(r, f, m) for r, f, m in itertools.product([True, False], repeat=3)]
    data = metrics(
        recency=[10 if r else 200 for r, _, _ in combos],
        frequency=[6 if f else 1 for _, f, _ in combos],
        monetary=[1500 if m else 50 for _, _, m in combos],
    )
    result = score(data, RfmSettings(scheme="quick-audience"))
    assert (result.levels, result.method) == (3, "ranges")
    assert result.comparison == {"r": 2.0, "f": 2.0, "m": 2.0}
    assert result.scores.cells() == [
        "".join("3" if high else "1" for high in combo) for combo in combos
    ]
    assert result.segment_labels() == [TYPES[combo] for combo in combos]
    assert result.segment_counts() == dict.fromkeys(QUICK_AUDIENCE.segment_names, 1)
    assert result.unsegmented == 0


def three_customers() -> CustomerMetrics:
    # c0: 45 days -> R2, 3 orders -> F2, 500 -> M2
    # c1: 5 days -> R3, 5 orders -> F3, 20 -> M1
    # c2: 120 days -> R1, 1 order -> F1, 2000 -> M3
    # Mean scores: R (2+3+1)/3 = 2, F (2+3+1)/3 = 2, M (2+1+3)/3 = 2.
    return metrics([45, 5, 120], [3, 5, 1], [500, 20, 2000])


def test_mean_comparison_score_equal_to_mean_is_high() -> None:
    result = score(three_customers(), RfmSettings(scheme="quick-audience"))
    assert result.scores.cells() == ["222", "331", "113"]
    assert result.comparison == {"r": 2.0, "f": 2.0, "m": 2.0}
    # c0: 2 >= 2 everywhere -> High Value; c1: H H L -> General Value; c2: L L H -> Key Retain
    assert result.segment_labels() == ["High Value", "General Value", "Key Retain"]


def test_fixed_comparison_values() -> None:
    settings = RfmSettings(scheme="quick-audience", comparison={"r": 3, "f": 3, "m": 1})
    result = score(three_customers(), settings)
    assert result.comparison == {"r": 3, "f": 3, "m": 1}
    # c0: R2 < 3 L, F2 < 3 L, M2 >= 1 H -> Key Retain
    # c1: R3 H, F3 H, M1 >= 1 H -> High Value
    # c2: R1 L, F1 L, M3 H -> Key Retain
    assert result.segment_labels() == ["Key Retain", "High Value", "Key Retain"]


def test_partly_fixed_comparison_falls_back_to_mean() -> None:
    result = score(three_customers(), RfmSettings(scheme="quick-audience", comparison={"r": 3}))
    assert result.comparison == {"r": 3, "f": 2.0, "m": 2.0}
    # c0: L H H -> Key Keep; c1: H H L -> General Value; c2: L L H -> Key Retain
    assert result.segment_labels() == ["Key Keep", "General Value", "Key Retain"]


def test_fractional_mean() -> None:
    # R: 0 days -> 3, 60 days -> 2, 2; mean 7/3 = 2.33, so R2 is low. F all 1 (mean 1), M all 1 (mean 1): high.
    result = score(metrics([0, 60, 60], [1, 1, 1], [50, 50, 50]), RfmSettings(scheme="quick-audience"))
    assert result.comparison["r"] == pytest.approx(7 / 3)
    assert result.scores.cells() == ["311", "211", "211"]
    assert result.segment_labels() == ["High Value", "Key Keep", "Key Keep"]


def test_band_boundaries_through_score() -> None:
    # R: 30 -> 3, 31 -> 2, 90 -> 2, 91 -> 1. F: 1 -> 1, 4 -> 2, 5 -> 3, 2 -> 2. M: 99.99 -> 1, 100 -> 2,
    # 999.99 -> 2, 1000 -> 3.
    result = score(metrics([30, 31, 90, 91], [1, 4, 5, 2], [99.99, 100, 999.99, 1000]),
                   RfmSettings(scheme="quick-audience"))
    assert result.scores.cells() == ["311", "222", "232", "123"]
    # Means: R (3+2+2+1)/4 = 2, F (1+2+3+2)/4 = 2, M (1+2+2+3)/4 = 2.
    # 311: H L L General Develop; 222: H H H High Value; 232 High Value; 123: L H H Key Keep
    assert result.segment_labels() == ["General Develop", "High Value", "High Value", "Key Keep"]


def test_cell_table_from_comparison() -> None:
    table = QUICK_AUDIENCE.cell_table(SchemeContext(levels=3, comparison={"r": 2, "f": 2, "m": 2}))
    assert table.shape == (3, 3, 3)
    name = QUICK_AUDIENCE.segment_names.__getitem__
    assert name(table[2, 2, 2]) == "High Value"
    assert name(table[0, 0, 0]) == "Potential"
    assert name(table[1, 0, 2]) == "Key Develop"  # R2 H, F1 L, M3 H
    assert name(table[0, 1, 0]) == "General Keep"  # R1 L, F2 H, M1 L
    # Only score 1 is low on each axis: 8 cells with all of R, F, M >= 2 are High Value.
    assert int((table == QUICK_AUDIENCE.segment_names.index("High Value")).sum()) == 8
    for (r, f, m), expected in TYPES.items():
        assert name(table[2 if r else 0, 2 if f else 0, 2 if m else 0]) == expected


def test_five_levels_uses_spreadsheet_ranges_and_quintiles_for_m() -> None:
    # R bands: 20 -> 5, 100 -> 3. F bands: 10 -> 5, 1 -> 1. M quintiles over 2: 10 -> 1, 900 -> 1 + 5//2 = 3.
    result = score(metrics([20, 100], [10, 1], [10, 900]), RfmSettings(scheme="quick-audience", levels=5))
    assert (result.levels, result.method) == (5, "ranges")
    assert result.scores.cells() == ["551", "313"]
    # Means: R 4, F 3, M 2. c0: H H L General Value; c1: L L H Key Retain
    assert result.comparison == {"r": 4.0, "f": 3.0, "m": 2.0}
    assert result.segment_labels() == ["General Value", "Key Retain"]


def test_four_levels_needs_quantiles_or_own_ranges() -> None:
    with pytest.raises(SchemeError, match="no built-in range set for 4 levels"):
        score(three_customers(), RfmSettings(scheme="quick-audience", levels=4))
    # Quantiles, 3 distinct values per metric: ranks 1, 2, 3 -> 1 + 4*(k-1)//3 = 1, 2, 3.
    result = score(three_customers(), RfmSettings(scheme="quick-audience", levels=4, method="quantile"))
    assert result.scores.cells() == ["222", "331", "113"]


def test_user_ranges_override_builtin_and_are_validated() -> None:
    own_m = bands_from_bounds("m", [(1, 0, 1000), (2, 1000, 1500), (3, 1500, None)])
    # c0 500 -> 1, c1 20 -> 1, c2 2000 -> 3; R and F keep the built-in bands.
    result = score(three_customers(), RfmSettings(scheme="quick-audience", ranges={"m": own_m}))
    assert result.scores.cells() == ["221", "331", "113"]
    gap = bands_from_bounds("r", [(3, 0, 30), (2, 31, 60), (1, 62, None)])
    with pytest.raises(SchemeError, match="r bands leave a gap between 60 and 62") as err:
        score(three_customers(), RfmSettings(scheme="quick-audience", ranges={"r": gap}))
    assert err.value.path == "rfm.ranges.r"


def test_empty_metrics() -> None:
    result = score(metrics([], [], []), RfmSettings(scheme="quick-audience"))
    assert len(result) == 0
    assert result.segment_labels() == []
    assert result.comparison == {"r": 0.0, "f": 0.0, "m": 0.0}
