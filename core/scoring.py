"""Scores 1..L per metric (docs/scoring.md, "Scores"). Higher is always better."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from rfmsync.core.errors import SchemeError

Metric = Literal["r", "f", "m"]
METRICS: tuple[Metric, ...] = ("r", "f", "m")
METRIC_NAMES = {"r": "recency (days since last order)", "f": "frequency (orders)", "m": "monetary (spend)"}
ALLOWED_LEVELS = (3, 4, 5)


def quantile_scores(values: NDArray[np.float64] | NDArray[np.int64], levels: int, *, lower_is_better: bool
                    ) -> NDArray[np.int64]:
    """`1 + floor(L * (rank - 1) / n)`, rank = 1-based position of the first customer with that value.

    Customers are ordered worst to best; equal values share the lowest rank, so ties never split
    and a level swallowed by ties stays empty.
    """
    n = len(values)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    goodness = -np.asarray(values) if lower_is_better else np.asarray(values)
    # One argsort, then each run of equal values takes the position of its first member (the number
    # of customers strictly worse). `searchsorted(sort(x), x)` gives the same but does a cache-missing
    # binary search per customer: ~0.27 s instead of ~0.04 s for a million customers.
    order = np.argsort(goodness)
    ordered = goodness[order]
    run_starts = np.empty(n, dtype=np.bool_)
    run_starts[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=run_starts[1:])
    first_of_run = np.flatnonzero(run_starts)
    worse_count = np.empty(n, dtype=np.int64)
    worse_count[order] = first_of_run[np.cumsum(run_starts) - 1]
    return 1 + (levels * worse_count) // n


@dataclass(frozen=True)
class Band:
    """Values from `low` up to `high` get `score`. `high` is None on the open last band.

    Integer metrics (days, orders) use inclusive bounds as users write them (31-90); money bands
    are `[low, high)`.
    """

    score: int
    low: float
    high: float | None


@dataclass(frozen=True)
class BandSet:
    metric: Metric
    bands: tuple[Band, ...]

    @property
    def integer_bounds(self) -> bool:
        return self.metric in ("r", "f")

    def validate(self, levels: int, path: str) -> None:
        """Contiguous from the lowest possible value, open at the top, each score once, monotone."""
        if not self.bands:
            raise SchemeError(path, f"{METRIC_NAMES[self.metric]} has no bands")
        ordered = sorted(self.bands, key=lambda b: b.low)
        scores = sorted(b.score for b in ordered)
        if scores != list(range(1, levels + 1)):
            raise SchemeError(
                path, f"{self.metric} bands give scores {scores}; expected each of 1..{levels} exactly once"
            )
        floor = {"r": 0, "f": 1, "m": 0}[self.metric]
        if ordered[0].low > floor:
            raise SchemeError(path, f"{self.metric} bands start at {ordered[0].low:g}; values from "
                              f"{floor} up are not covered (gap {floor}..{ordered[0].low:g})")
        step = 1 if self.integer_bounds else 0
        for prev, nxt in itertools.pairwise(ordered):
            if prev.high is None:
                raise SchemeError(path, f"{self.metric} band from {prev.low:g} is open-ended but another "
                                  f"band starts at {nxt.low:g} (overlap)")
            if prev.high < prev.low:
                raise SchemeError(path, f"{self.metric} band {prev.low:g}-{prev.high:g} ends before it starts")
            expected = prev.high + step
            if nxt.low > expected:
                raise SchemeError(path, f"{self.metric} bands leave a gap between {prev.high:g} and {nxt.low:g}")
            if nxt.low < expected:
                raise SchemeError(path, f"{self.metric} bands overlap: {prev.low:g}-{prev.high:g} and "
                                  f"{nxt.low:g}-{'' if nxt.high is None else f'{nxt.high:g}'}")
        if ordered[-1].high is not None:
            raise SchemeError(path, f"{self.metric} bands end at {ordered[-1].high:g}; the last band must be "
                              "open-ended (leave out its upper bound)")
        by_value = [b.score for b in ordered]
        want_increasing = self.metric != "r"
        pairs = itertools.pairwise(by_value)
        if not all((a < b) if want_increasing else (a > b) for a, b in pairs):
            direction = "fall as days grow" if self.metric == "r" else "rise with the value"
            raise SchemeError(path, f"{self.metric} band scores must {direction} (higher is better): {by_value}")

    def scores(self, values: NDArray[np.float64] | NDArray[np.int64]) -> NDArray[np.int64]:
        ordered = sorted(self.bands, key=lambda b: b.low)
        # Band i covers [low_i, low_{i+1}); for inclusive integer bounds that is the same as
        # [low_i, high_i + 1), and it places fractional decayed frequencies in the band they fall in.
        lows = np.asarray([b.low for b in ordered], dtype=np.float64)
        band_scores = np.asarray([b.score for b in ordered], dtype=np.int64)
        idx = np.searchsorted(lows, np.asarray(values, dtype=np.float64), side="right") - 1
        return band_scores[np.clip(idx, 0, len(ordered) - 1)]


def bands_from_bounds(metric: Metric, bounds: list[tuple[int, float, float | None]]) -> BandSet:
    return BandSet(metric, tuple(Band(score, low, high) for score, low, high in bounds))


# docs/scoring.md, "Fixed ranges". M in the spreadsheet set is quintiles, so it has no bands here.
SPREADSHEET_BANDS: dict[Metric, BandSet] = {
    "r": bands_from_bounds("r", [(5, 0, 30), (4, 31, 90), (3, 91, 180), (2, 181, 365), (1, 366, None)]),
    "f": bands_from_bounds("f", [(1, 1, 1), (2, 2, 2), (3, 3, 4), (4, 5, 9), (5, 10, None)]),
}
QUICK_AUDIENCE_BANDS: dict[Metric, BandSet] = {
    "r": bands_from_bounds("r", [(3, 0, 30), (2, 31, 90), (1, 91, None)]),
    "f": bands_from_bounds("f", [(1, 1, 1), (2, 2, 4), (3, 5, None)]),
    "m": bands_from_bounds("m", [(1, 0, 100), (2, 100, 1000), (3, 1000, None)]),
}
BUILTIN_BANDS: dict[int, dict[Metric, BandSet]] = {5: SPREADSHEET_BANDS, 3: QUICK_AUDIENCE_BANDS}


def builtin_bands(levels: int) -> dict[Metric, BandSet]:
    if levels not in BUILTIN_BANDS:
        raise SchemeError("rfm.ranges", f"there is no built-in range set for {levels} levels (built-in: 5 "
                          "'spreadsheet', 3 'quick-audience'); set your own bands for r, f and m")
    return BUILTIN_BANDS[levels]


@dataclass(frozen=True)
class Weights:
    r: float = 1 / 3
    f: float = 1 / 3
    m: float = 1 / 3

    def validate(self, path: str) -> None:
        values = (self.r, self.f, self.m)
        if any(w < 0 for w in values):
            raise SchemeError(path, f"weights must not be negative, got {values}")
        if not math.isclose(sum(values), 1.0, abs_tol=1e-6):
            raise SchemeError(path, f"weights must sum to 1, got {sum(values):g}")


@dataclass(frozen=True)
class Scores:
    r: NDArray[np.int64]
    f: NDArray[np.int64]
    m: NDArray[np.int64]

    def combined(self, weights: Weights) -> NDArray[np.float64]:
        combined: NDArray[np.float64] = weights.r * self.r + weights.f * self.f + weights.m * self.m
        return combined

    def cells(self) -> list[str]:
        """`rfm_cell` strings, R first ("545")."""
        digits = self.r * 100 + self.f * 10 + self.m
        return [str(d) for d in digits.tolist()]


