"""Built-in schemes: classic R x FM grid, responsys personas, levels (docs/scoring.md, "Built-in schemes")."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from rfmsync.core.aggregate import CustomerMetrics
from rfmsync.core.errors import SchemeError
from rfmsync.core.rfm import RfmSettings, score
from rfmsync.core.schemes import (
    BUILTIN_SCHEMES,
    CLASSIC,
    NO_SEGMENT,
    QUICK_AUDIENCE,
    RESPONSYS,
    SchemeContext,
    assign,
    builtin_scheme,
    fm_score,
    micro_segments,
)
from rfmsync.core.scoring import BandSet, Metric, Weights, bands_from_bounds

# The classic table exactly as docs/scoring.md prints it: R row -> names for FM = 1..5.
CLASSIC_DOC = {
    5: ["New Customers", "Potential Loyalists", "Potential Loyalists", "Champions", "Champions"],
    4: ["Promising", "Potential Loyalists", "Potential Loyalists", "Loyal Customers", "Champions"],
    3: ["About to Sleep", "About to Sleep", "Need Attention", "Loyal Customers", "Loyal Customers"],
    2: ["Hibernating", "Hibernating", "At Risk", "At Risk", "Can't Lose Them"],
    1: ["Lost", "Lost", "Hibernating", "At Risk", "Can't Lose Them"],
}

# (F, M) pairs for every FM value, worked out by hand from FM = (F + M + 1) // 2.
FM_PAIRS = {
    1: [(1, 1)],  # (1+1+1)//2 = 1
    2: [(1, 2), (2, 1), (1, 3), (2, 2), (3, 1)],  # sums 3 and 4 -> 4//2 = 2, 5//2 = 2
    3: [(1, 4), (2, 3), (3, 2), (4, 1), (1, 5), (2, 4), (3, 3), (4, 2), (5, 1)],  # sums 5, 6 -> 3
    4: [(2, 5), (3, 4), (4, 3), (5, 2), (3, 5), (4, 4), (5, 3)],  # sums 7, 8 -> 4
    5: [(4, 5), (5, 4), (5, 5)],  # sums 9, 10 -> 5
}


def test_fm_pairs_cover_the_grid_and_match_fm_score() -> None:
    assert sorted(p for pairs in FM_PAIRS.values() for p in pairs) == list(itertools.product(range(1, 6), repeat=2))
    for fm, pairs in FM_PAIRS.items():
        for f, m in pairs:
            assert fm_score(f, m) == fm
    np.testing.assert_array_equal(fm_score(np.asarray([1, 1, 4, 2]), np.asarray([2, 5, 5, 5])), [2, 3, 5, 4])


@pytest.mark.parametrize(("r", "fm"), list(itertools.product(range(1, 6), repeat=2)))
def test_classic_cell_table_every_grid_cell(r: int, fm: int) -> None:
    table = CLASSIC.cell_table(SchemeContext(levels=5))
    expected = CLASSIC_DOC[r][fm - 1]
    for f, m in FM_PAIRS[fm]:
        assert CLASSIC.segment_names[table[r - 1, f - 1, m - 1]] == expected, (r, f, m)


def test_classic_has_eleven_segments_and_no_gaps() -> None:
    table = CLASSIC.cell_table(SchemeContext(levels=5))
    assert table.shape == (5, 5, 5)
    assert (table != NO_SEGMENT).all()
    assert len(CLASSIC.segment_names) == 11
    assert set(CLASSIC.segment_names) == {name for row in CLASSIC_DOC.values() for name in row}
    # Cells per segment, counted by hand from the doc table and FM_PAIRS sizes (1, 5, 9, 7, 3):
    # Champions: R5 FM4,5 (7+3) + R4 FM5 (3) = 13
    # Potential Loyalists: R5 FM2,3 (5+9) + R4 FM2,3 (14) = 28
    # Hibernating: R2 FM1,2 (1+5) + R1 FM3 (9) = 15; At Risk: R2 FM3,4 (16) + R1 FM4 (7) = 23
    counts = dict(zip(CLASSIC.segment_names, np.bincount(table.ravel(), minlength=11).tolist(), strict=True))
    assert counts == {
        "Champions": 13, "Loyal Customers": 7 + 7 + 3, "Potential Loyalists": 28, "New Customers": 1,
        "Promising": 1, "Need Attention": 9, "About to Sleep": 1 + 5, "At Risk": 23,
        "Can't Lose Them": 3 + 3, "Hibernating": 15, "Lost": 1 + 5,
    }
    assert sum(counts.values()) == 125


def identity_bands() -> dict[Metric, BandSet]:
    """Bands under which a metric value *is* its score: r days 0..4 -> 5..1, f orders 1..5, m spend 1..5."""
    return {
        "r": bands_from_bounds("r", [(5, 0, 0), (4, 1, 1), (3, 2, 2), (2, 3, 3), (1, 4, None)]),
        "f": bands_from_bounds("f", [(1, 1, 1), (2, 2, 2), (3, 3, 3), (4, 4, 4), (5, 5, None)]),
        "m": bands_from_bounds("m", [(1, 0, 2), (2, 2, 3), (3, 3, 4), (4, 4, 5), (5, 5, None)]),
    }


def test_classic_through_score_on_every_cell() -> None:
    cells = list(itertools.product(range(1, 6), repeat=3))
    metrics = CustomerMetrics(
        customer_ids=[f"c{i}" for i in range(125)],
        customer_index=np.arange(125, dtype=np.int64),
        recency_days=np.asarray([5 - r for r, _, _ in cells], dtype=np.int64),
        frequency=np.asarray([f for _, f, _ in cells], dtype=np.float64),
        monetary=np.asarray([m for _, _, m in cells], dtype=np.float64),
    )
    result = score(metrics, RfmSettings(scheme="classic", method="ranges", ranges=identity_bands()))
    assert result.scores.cells() == [f"{r}{f}{m}" for r, f, m in cells]
    labels = result.segment_labels()
    for (r, f, m), label in zip(cells, labels, strict=True):
        fm = next(k for k, pairs in FM_PAIRS.items() if (f, m) in pairs)
        assert label == CLASSIC_DOC[r][fm - 1], (r, f, m)
    assert result.unsegmented == 0


def test_classic_quantile_five_customers() -> None:
    # Five distinct values: ranks 1..5 -> 1 + floor(5 (k-1) / 5) = k.
    metrics = CustomerMetrics(
        customer_ids=["a", "b", "c", "d", "e"],
        customer_index=np.arange(5, dtype=np.int64),
        recency_days=np.asarray([40, 30, 20, 10, 0], dtype=np.int64),  # R = 1, 2, 3, 4, 5
        frequency=np.asarray([1.0, 5, 4, 2, 3]),  # F = 1, 5, 4, 2, 3
        monetary=np.asarray([10.0, 50, 20, 40, 30]),  # M = 1, 5, 2, 4, 3
    )
    result = score(metrics, RfmSettings())
    assert (result.levels, result.method, result.scheme) == (5, "quantile", CLASSIC)
    assert result.scores.cells() == ["111", "255", "342", "424", "533"]
    # FM: (1+1+1)//2 = 1, (5+5+1)//2 = 5, (4+2+1)//2 = 3, (2+4+1)//2 = 3, (3+3+1)//2 = 3
    assert result.segment_labels() == ["Lost", "Can't Lose Them", "Need Attention", "Potential Loyalists",
                                       "Potential Loyalists"]
    # Equal thirds: 3/3, 12/3, 9/3, 10/3, 11/3
    np.testing.assert_allclose(result.rfm_score, [1.0, 4.0, 3.0, 10 / 3, 11 / 3])
    assert result.comparison == {}
    counts = result.segment_counts()
    assert counts["Potential Loyalists"] == 2
    assert counts["Lost"] == counts["Can't Lose Them"] == counts["Need Attention"] == 1
    assert counts["Champions"] == 0
    assert "" not in counts


def test_custom_weights_flow_into_rfm_score() -> None:
    metrics = CustomerMetrics(["a", "b"], np.arange(2, dtype=np.int64), np.asarray([0, 9], dtype=np.int64),
                              np.asarray([1.0, 1.0]), np.asarray([5.0, 1.0]))
    # R: 9 days rank 1 -> 1, 0 days rank 2 -> 1 + 5//2 = 3. F tied -> 1, 1. M: 1.0 -> 1, 5.0 -> 3.
    result = score(metrics, RfmSettings(weights=Weights(0.5, 0.25, 0.25)))
    assert result.scores.cells() == ["313", "111"]
    np.testing.assert_allclose(result.rfm_score, [0.5 * 3 + 0.25 * 1 + 0.25 * 3, 1.0])  # 2.5, 1.0
    with pytest.raises(SchemeError, match="weights must sum to 1") as err:
        score(metrics, RfmSettings(weights=Weights(0.4, 0.4, 0.4)))
    assert err.value.path == "rfm.weights"


@pytest.mark.parametrize("name", ["classic", "responsys"])
@pytest.mark.parametrize("levels", [3, 4])
def test_grid_schemes_need_five_levels(name: str, levels: int) -> None:
    scheme = BUILTIN_SCHEMES[name]
    assert not scheme.supports_levels(levels)
    with pytest.raises(SchemeError, match=f"scheme '{name}' is defined on 5 levels; got {levels}") as err:
        scheme.cell_table(SchemeContext(levels=levels))
    assert err.value.path == "rfm.levels"
    with pytest.raises(SchemeError, match=f"scheme '{name}' is defined on 5 levels; got {levels}"):
        RfmSettings(scheme=name, levels=levels).resolved()


def test_levels_outside_three_to_five_and_unknown_scheme() -> None:
    with pytest.raises(SchemeError, match="expected 3, 4 or 5, got 6") as err:
        RfmSettings(scheme="quick-audience", levels=6).resolved()
    assert err.value.path == "rfm.levels"
    with pytest.raises(SchemeError, match="unknown scheme 'fancy'") as err:
        builtin_scheme("fancy")
    assert err.value.path == "rfm.scheme"
    assert builtin_scheme("responsys") is RESPONSYS
    assert sorted(BUILTIN_SCHEMES) == ["classic", "quick-audience", "responsys"]


# --- responsys


def persona(r: int, f: int) -> str:
    """docs/scoring.md's responsys table, as ranges."""
    if r >= 3 and f >= 3:
        return "Champions"
    if r >= 4:
        return "New"  # f 1-2
    if r == 3:
        return "Promising"  # f 1-2
    if f >= 3:
        return "Can't Lose"
    return "At Risk" if f == 2 else "Lost"


RESPONSYS_DOC = {  # the same, spelled out by R row for F = 1..5
    5: ["New", "New", "Champions", "Champions", "Champions"],
    4: ["New", "New", "Champions", "Champions", "Champions"],
    3: ["Promising", "Promising", "Champions", "Champions", "Champions"],
    2: ["Lost", "At Risk", "Can't Lose", "Can't Lose", "Can't Lose"],
    1: ["Lost", "At Risk", "Can't Lose", "Can't Lose", "Can't Lose"],
}


@pytest.mark.parametrize(("r", "f"), list(itertools.product(range(1, 6), repeat=2)))
def test_responsys_persona_per_cell_whatever_m(r: int, f: int) -> None:
    assert persona(r, f) == RESPONSYS_DOC[r][f - 1]
    table = RESPONSYS.cell_table(SchemeContext(levels=5))
    names = {RESPONSYS.segment_names[table[r - 1, f - 1, m - 1]] for m in range(1, 6)}
    assert names == {persona(r, f)}  # M does not decide the persona


def test_responsys_through_score_ignores_monetary() -> None:
    # Spreadsheet ranges (R, F bands; M quintiles). a, b: 10 days -> R5, 12 orders -> F5.
    # c: 200 days -> R2, 2 orders -> F2. M over 3 customers: 5 -> 1, 80 -> 1 + 5//3 = 2, 5000 -> 1 + 10//3 = 4.
    metrics = CustomerMetrics(
        customer_ids=["a", "b", "c"],
        customer_index=np.arange(3, dtype=np.int64),
        recency_days=np.asarray([10, 10, 200], dtype=np.int64),
        frequency=np.asarray([12.0, 12.0, 2.0]),
        monetary=np.asarray([5.0, 5000.0, 80.0]),
    )
    result = score(metrics, RfmSettings(scheme="responsys", method="ranges"))
    assert result.scores.cells() == ["551", "554", "222"]
    assert result.segment_labels() == ["Champions", "Champions", "At Risk"]
    assert micro_segments(result.scores.r, result.scores.f) == ["R5F5", "R5F5", "R2F2"]
    assert RESPONSYS.has_micro_segments and not CLASSIC.has_micro_segments


def test_micro_segment_names() -> None:
    r = np.asarray([5, 1, 3, 2], dtype=np.int64)
    f = np.asarray([3, 2, 1, 5], dtype=np.int64)
    assert micro_segments(r, f) == ["R5F3", "R1F2", "R3F1", "R2F5"]
    all_cells = list(itertools.product(range(1, 6), repeat=2))
    names = micro_segments(np.asarray([a for a, _ in all_cells]), np.asarray([b for _, b in all_cells]))
    assert len(set(names)) == 25
    assert names[0] == "R1F1" and names[-1] == "R5F5"
    assert micro_segments(np.zeros(0, np.int64), np.zeros(0, np.int64)) == []


def test_assign_looks_up_cells() -> None:
    table = CLASSIC.cell_table(SchemeContext(levels=5))
    codes = assign(table, np.asarray([5, 1, 3]), np.asarray([5, 1, 3]), np.asarray([5, 1, 3]))
    # 555 -> Champions, 111 -> Lost, 333 (FM 3) -> Need Attention
    assert [CLASSIC.segment_names[c] for c in codes.tolist()] == ["Champions", "Lost", "Need Attention"]
    assert QUICK_AUDIENCE.uses_comparison and not CLASSIC.uses_comparison
