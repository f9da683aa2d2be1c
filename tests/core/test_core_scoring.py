"""Quantile and fixed-range scores, band validation, weights and cells (docs/scoring.md, "Scores")."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from rfmsync.core.errors import SchemeError
from rfmsync.core.scoring import (
    QUICK_AUDIENCE_BANDS,
    SPREADSHEET_BANDS,
    Band,
    BandSet,
    Scores,
    Weights,
    bands_from_bounds,
    builtin_bands,
    quantile_scores,
)


def q(values: Sequence[float], levels: int, lower_is_better: bool = False) -> list[int]:
    result: list[int] = quantile_scores(np.asarray(values), levels, lower_is_better=lower_is_better).tolist()
    return result


# --- quantile: score = 1 + floor(L * (rank - 1) / n), rank = first position of the value, worst first

# Frequencies of 10 customers, half with exactly one order. Sorted: 1 x5 (rank 1), 2 x2 (rank 6),
# 3 (rank 8), 4 (rank 9), 5 (rank 10).
FREQ = [3, 1, 5, 1, 2, 1, 4, 1, 2, 1]


def test_quantile_ties_five_levels_leave_level_two_empty() -> None:
    # 1 -> 1 + 5*0//10 = 1; 2 -> 1 + 25//10 = 3; 3 -> 1 + 35//10 = 4; 4 -> 1 + 40//10 = 5; 5 -> 1 + 45//10 = 5
    assert q(FREQ, 5) == [4, 1, 5, 1, 3, 1, 5, 1, 3, 1]


def test_quantile_ties_four_levels() -> None:
    # 1 -> 1; 2 -> 1 + 20//10 = 3; 3 -> 1 + 28//10 = 3; 4 -> 1 + 32//10 = 4; 5 -> 1 + 36//10 = 4
    assert q(FREQ, 4) == [3, 1, 4, 1, 3, 1, 4, 1, 3, 1]


def test_quantile_ties_three_levels() -> None:
    # 1 -> 1; 2 -> 1 + 15//10 = 2; 3 -> 1 + 21//10 = 3; 4 -> 1 + 24//10 = 3; 5 -> 1 + 27//10 = 3
    assert q(FREQ, 3) == [3, 1, 3, 1, 2, 1, 3, 1, 2, 1]


def test_quantile_distinct_values() -> None:
    spend = [70.0, 10.0, 100.0, 20.0, 90.0, 30.0, 80.0, 40.0, 60.0, 50.0]  # rank of v = v / 10
    # L=5: 1 + floor(5 (k-1) / 10) for k = 1..10 -> 1 1 2 2 3 3 4 4 5 5
    assert q(spend, 5) == [4, 1, 5, 1, 5, 2, 4, 2, 3, 3]
    # L=4: 4 (k-1) / 10 = 0 .4 .8 1.2 1.6 2 2.4 2.8 3.2 3.6 -> 1 1 1 2 2 3 3 3 4 4
    assert q(spend, 4) == [3, 1, 4, 1, 4, 1, 3, 2, 3, 2]
    # L=3: 3 (k-1) / 10 = 0 .3 .6 .9 1.2 1.5 1.8 2.1 2.4 2.7 -> 1 1 1 1 2 2 2 3 3 3
    assert q(spend, 3) == [2, 1, 3, 1, 3, 1, 3, 1, 2, 2]


def test_quantile_n_not_divisible_by_levels() -> None:
    # n = 7, L = 5: 5 (k-1) / 7 = 0 .71 1.43 2.14 2.86 3.57 4.29 -> 1 1 2 3 3 4 5
    assert q([1, 2, 3, 4, 5, 6, 7], 5) == [1, 1, 2, 3, 3, 4, 5]


def test_quantile_recency_lower_days_is_better() -> None:
    # Worst first: 100 (rank 1), 30 (rank 2), 5 and 5 (rank 3), 0 (rank 5); n = 5.
    # 100 -> 1; 30 -> 1 + 5//5 = 2; 5 -> 1 + 10//5 = 3; 0 -> 1 + 20//5 = 5. Level 4 stays empty.
    assert q([0, 5, 5, 100, 30], 5, lower_is_better=True) == [5, 3, 3, 1, 2]
    # Same data as integer days (recency_days is int64).
    days = np.asarray([0, 5, 5, 100, 30], dtype=np.int64)
    assert quantile_scores(days, 5, lower_is_better=True).tolist() == [5, 3, 3, 1, 2]
    # L=3: 100 -> 1; 30 -> 1 + 3//5 = 1; 5 -> 1 + 6//5 = 2; 0 -> 1 + 12//5 = 3
    assert q([0, 5, 5, 100, 30], 3, lower_is_better=True) == [3, 2, 2, 1, 1]


def test_quantile_single_customer_and_all_equal() -> None:
    for levels in (3, 4, 5):
        assert q([42.0], levels) == [1]  # rank 1 -> 1 + 0
        assert q([42.0], levels, lower_is_better=True) == [1]
        assert q([7, 7, 7, 7], levels) == [1, 1, 1, 1]
        assert q([7, 7, 7, 7], levels, lower_is_better=True) == [1, 1, 1, 1]
    assert quantile_scores(np.zeros(0), 5, lower_is_better=False).tolist() == []


def test_quantile_equal_money_sums_tie() -> None:
    # 30.0 on one customer and 10.10 + 19.90 held as units / 10,000 compare equal and share a score.
    units = np.asarray([300_000, 101_000 + 199_000, 500_000], dtype=np.float64) / 10_000
    # 30, 30 share rank 1 -> 1; 50 rank 3 -> 1 + 5*2//3 = 4
    assert quantile_scores(units, 5, lower_is_better=False).tolist() == [1, 1, 4]


# --- fixed ranges


def test_spreadsheet_recency_bands() -> None:
    days = [0, 30, 31, 90, 91, 180, 181, 365, 366, 1000]
    assert SPREADSHEET_BANDS["r"].scores(np.asarray(days)).tolist() == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]


def test_spreadsheet_frequency_bands() -> None:
    orders = [1, 2, 3, 4, 5, 9, 10, 50]
    assert SPREADSHEET_BANDS["f"].scores(np.asarray(orders, dtype=np.float64)).tolist() == [1, 2, 3, 3, 4, 4, 5, 5]


def test_spreadsheet_has_no_money_bands_so_m_is_quintiles() -> None:
    assert "m" not in SPREADSHEET_BANDS
    assert builtin_bands(5) is SPREADSHEET_BANDS
    assert builtin_bands(3) is QUICK_AUDIENCE_BANDS


def test_decayed_fractional_frequency_falls_in_its_band() -> None:
    # Band i covers [low_i, low_{i+1}): 0.6 is below every band and takes the lowest; 1.75 in 1-1 -> 1;
    # 2.5 in 2-2 -> 2; 4.99 in 3-4 -> 3; 9.99 in 5-9 -> 4.
    decayed = np.asarray([0.6, 1.75, 2.5, 4.99, 9.99])
    assert SPREADSHEET_BANDS["f"].scores(decayed).tolist() == [1, 1, 2, 3, 4]


def test_quick_audience_bands() -> None:
    assert QUICK_AUDIENCE_BANDS["r"].scores(np.asarray([0, 30, 31, 90, 91, 400])).tolist() == [3, 3, 2, 2, 1, 1]
    assert QUICK_AUDIENCE_BANDS["f"].scores(np.asarray([1.0, 2, 4, 5, 100])).tolist() == [1, 2, 2, 3, 3]
    # Money bands are [low, high), the last open: 99.99 -> 1, 100 -> 2, 999.99 -> 2, 1000 -> 3.
    spend = np.asarray([0.01, 99.99, 100.0, 999.99, 1000.0, 5000.0])
    assert QUICK_AUDIENCE_BANDS["m"].scores(spend).tolist() == [1, 1, 2, 2, 3, 3]


def test_builtin_band_sets_are_valid() -> None:
    SPREADSHEET_BANDS["r"].validate(5, "rfm.ranges.r")
    SPREADSHEET_BANDS["f"].validate(5, "rfm.ranges.f")
    for metric, bands in QUICK_AUDIENCE_BANDS.items():
        bands.validate(3, f"rfm.ranges.{metric}")


def test_no_builtin_set_for_four_levels() -> None:
    with pytest.raises(SchemeError, match="no built-in range set for 4 levels") as err:
        builtin_bands(4)
    assert err.value.path == "rfm.ranges"


def test_custom_band_set_out_of_order_is_sorted() -> None:
    bands = bands_from_bounds("m", [(3, 500, None), (1, 0, 50), (2, 50, 500)])
    bands.validate(3, "rfm.ranges.m")
    assert bands.scores(np.asarray([49.99, 50.0, 499.99, 500.0])).tolist() == [1, 2, 2, 3]


# --- BandSet.validate errors: each names the metric and the values


def invalid(bands: BandSet, levels: int = 3) -> SchemeError:
    with pytest.raises(SchemeError) as err:
        bands.validate(levels, f"rfm.ranges.{bands.metric}")
    assert err.value.path == f"rfm.ranges.{bands.metric}"
    return err.value


def test_validate_gap_in_days() -> None:
    err = invalid(bands_from_bounds("r", [(3, 0, 30), (2, 32, 90), (1, 91, None)]))
    assert err.message == "r bands leave a gap between 30 and 32"


def test_validate_gap_in_money() -> None:
    err = invalid(bands_from_bounds("m", [(1, 0, 100), (2, 150, 1000), (3, 1000, None)]))
    assert err.message == "m bands leave a gap between 100 and 150"


def test_validate_gap_at_the_start() -> None:
    err = invalid(bands_from_bounds("r", [(3, 1, 30), (2, 31, 90), (1, 91, None)]))
    assert err.message.startswith("r bands start at 1; values from 0 up are not covered")
    err = invalid(bands_from_bounds("m", [(1, 10, 100), (2, 100, 1000), (3, 1000, None)]))
    assert err.message.startswith("m bands start at 10; values from 0 up are not covered")


def test_validate_overlap() -> None:
    err = invalid(bands_from_bounds("m", [(1, 0, 100), (2, 50, 1000), (3, 1000, None)]))
    assert err.message == "m bands overlap: 0-100 and 50-1000"
    # Inclusive day bounds: 0-30 and 30-90 share day 30.
    err = invalid(bands_from_bounds("r", [(3, 0, 30), (2, 30, 90), (1, 91, None)]))
    assert err.message == "r bands overlap: 0-30 and 30-90"
    # The overlapping band is the open last one.
    err = invalid(bands_from_bounds("f", [(1, 1, 1), (2, 2, 6), (3, 5, None)]))
    assert err.message == "f bands overlap: 2-6 and 5-"


def test_validate_open_band_before_another() -> None:
    err = invalid(bands_from_bounds("m", [(1, 0, None), (2, 100, 1000), (3, 1000, None)]))
    assert err.message == "m band from 0 is open-ended but another band starts at 100 (overlap)"


def test_validate_last_band_must_be_open() -> None:
    err = invalid(bands_from_bounds("f", [(1, 1, 1), (2, 2, 4), (3, 5, 20)]))
    assert err.message == "f bands end at 20; the last band must be open-ended (leave out its upper bound)"


def test_validate_missing_and_duplicate_scores() -> None:
    err = invalid(bands_from_bounds("f", [(1, 1, 1), (1, 2, 4), (3, 5, None)]))
    assert err.message == "f bands give scores [1, 1, 3]; expected each of 1..3 exactly once"
    err = invalid(bands_from_bounds("f", [(1, 1, 4), (2, 5, None)]))
    assert err.message == "f bands give scores [1, 2]; expected each of 1..3 exactly once"
    err = invalid(bands_from_bounds("m", [(1, 0, 100), (2, 100, 1000), (3, 1000, None)]), levels=4)
    assert err.message == "m bands give scores [1, 2, 3]; expected each of 1..4 exactly once"


def test_validate_scores_must_be_monotone() -> None:
    err = invalid(bands_from_bounds("r", [(3, 0, 30), (1, 31, 90), (2, 91, None)]))
    assert err.message == "r band scores must fall as days grow (higher is better): [3, 1, 2]"
    # Recency scored like frequency (more days, higher score) is wrong too.
    err = invalid(bands_from_bounds("r", [(1, 0, 30), (2, 31, 90), (3, 91, None)]))
    assert err.message == "r band scores must fall as days grow (higher is better): [1, 2, 3]"
    err = invalid(bands_from_bounds("f", [(2, 1, 1), (1, 2, 4), (3, 5, None)]))
    assert err.message == "f band scores must rise with the value (higher is better): [2, 1, 3]"


def test_validate_band_ending_before_it_starts_and_empty_set() -> None:
    err = invalid(bands_from_bounds("r", [(3, 0, 30), (2, 31, 20), (1, 31, None)]))
    assert err.message == "r band 31-20 ends before it starts"
    err = invalid(BandSet("m", ()))
    assert err.message == "monetary (spend) has no bands"
    assert str(err) == "rfm.ranges.m: monetary (spend) has no bands"


def test_band_dataclass() -> None:
    band = Band(score=2, low=100, high=None)
    assert (band.score, band.low, band.high) == (2, 100, None)
    assert not BandSet("m", (band,)).integer_bounds
    assert BandSet("r", (band,)).integer_bounds


# --- weights, rfm_score and rfm_cell


def test_default_weights_are_equal_thirds() -> None:
    scores = Scores(np.asarray([5, 1, 3]), np.asarray([4, 1, 2]), np.asarray([5, 1, 3]))
    # (5 + 4 + 5) / 3 = 14/3; (1 + 1 + 1) / 3 = 1; (3 + 2 + 3) / 3 = 8/3
    np.testing.assert_allclose(scores.combined(Weights()), [14 / 3, 1.0, 8 / 3])
    Weights().validate("rfm.weights")


def test_custom_weights() -> None:
    scores = Scores(np.asarray([5, 1, 3]), np.asarray([4, 1, 2]), np.asarray([5, 1, 3]))
    w = Weights(r=0.5, f=0.3, m=0.2)
    w.validate("rfm.weights")
    # 0.5*5 + 0.3*4 + 0.2*5 = 2.5 + 1.2 + 1.0 = 4.7; 1.0; 1.5 + 0.6 + 0.6 = 2.7
    np.testing.assert_allclose(scores.combined(w), [4.7, 1.0, 2.7])
    np.testing.assert_allclose(scores.combined(Weights(1.0, 0.0, 0.0)), [5.0, 1.0, 3.0])


def test_weights_must_sum_to_one() -> None:
    with pytest.raises(SchemeError) as err:
        Weights(0.5, 0.5, 0.5).validate("rfm.weights")
    assert err.value.path == "rfm.weights"
    assert err.value.message == "weights must sum to 1, got 1.5"
    with pytest.raises(SchemeError) as err:
        Weights(0.3, 0.3, 0.3).validate("rfm.weights")
    assert err.value.message == "weights must sum to 1, got 0.9"


def test_weights_must_not_be_negative() -> None:
    with pytest.raises(SchemeError, match="must not be negative") as err:
        Weights(1.2, -0.1, -0.1).validate("stores.acme.rfm.weights")
    assert err.value.path == "stores.acme.rfm.weights"


def test_rfm_cells_are_three_digits_r_first() -> None:
    scores = Scores(np.asarray([5, 1, 3, 2]), np.asarray([4, 1, 2, 5]), np.asarray([5, 1, 3, 1]))
    assert scores.cells() == ["545", "111", "323", "251"]
