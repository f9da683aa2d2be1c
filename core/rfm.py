"""The engine's one entry point: metrics in, scores and segments out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from rfmsync.core.aggregate import CustomerMetrics
from rfmsync.core.custom import CustomScheme
from rfmsync.core.errors import SchemeError
from rfmsync.core.schemes import NO_SEGMENT, Scheme, SchemeContext, assign, builtin_scheme
from rfmsync.core.scoring import (
    ALLOWED_LEVELS,
    METRICS,
    BandSet,
    Metric,
    Scores,
    Weights,
    builtin_bands,
    quantile_scores,
)

Method = Literal["quantile", "ranges"]


@dataclass(frozen=True)
class RfmSettings:
    """How to score and segment. None means the scheme's default."""

    scheme: str | CustomScheme = "classic"
    levels: int | None = None
    method: Method | None = None
    # Bands per metric for method "ranges"; a metric without bands uses the built-in set for the
    # levels, and quantiles where that set has none (the spreadsheet set's M).
    ranges: dict[Metric, BandSet] = field(default_factory=dict)
    weights: Weights = field(default_factory=Weights)
    # Fixed comparison values for high/low schemes; a metric left out compares with the mean score.
    comparison: dict[Metric, float] = field(default_factory=dict)

    def resolve_scheme(self) -> Scheme:
        if isinstance(self.scheme, str):
            return builtin_scheme(self.scheme)
        return self.scheme

    def resolved(self) -> tuple[Scheme, int, Method]:
        scheme = self.resolve_scheme()
        levels = self.levels if self.levels is not None else scheme.default_levels
        if levels not in ALLOWED_LEVELS:
            raise SchemeError("rfm.levels", f"expected 3, 4 or 5, got {levels}")
        if not scheme.supports_levels(levels):
            raise SchemeError("rfm.levels", f"scheme {scheme.name!r} is defined on {scheme.default_levels} "
                              f"levels; got {levels}")
        method = self.method or scheme.default_method
        self.weights.validate("rfm.weights")
        return scheme, levels, method

    def bands_for(self, levels: int) -> dict[Metric, BandSet | None]:
        """The band set each metric is scored with under method "ranges" (None: quantiles)."""
        builtin = builtin_bands(levels) if any(m not in self.ranges for m in METRICS) else {}
        chosen: dict[Metric, BandSet | None] = {}
        for metric in METRICS:
            bands = self.ranges.get(metric) or builtin.get(metric)
            if bands is not None:
                bands.validate(levels, f"rfm.ranges.{metric}")
            chosen[metric] = bands
        return chosen


@dataclass(frozen=True)
class ScoredCustomers:
    """One row per scored customer, in the order of `metrics.customer_index`."""

    metrics: CustomerMetrics
    scores: Scores
    rfm_score: NDArray[np.float64]
    segment_codes: NDArray[np.int16]
    segment_names: tuple[str, ...]
    scheme: Scheme
    levels: int
    method: Method
    comparison: dict[Metric, float]

    def __len__(self) -> int:
        return len(self.metrics)

    def segment_labels(self) -> list[str]:
        names = [*self.segment_names, ""]  # NO_SEGMENT (-1) picks the trailing ""
        return [names[c] for c in self.segment_codes.tolist()]

    def segment_counts(self) -> dict[str, int]:
        counts = np.bincount(self.segment_codes + 1, minlength=len(self.segment_names) + 1)
        result = {name: int(counts[i + 1]) for i, name in enumerate(self.segment_names)}
        if counts[0]:
            result[""] = int(counts[0])
        return result

    @property
    def unsegmented(self) -> int:
        return int((self.segment_codes == NO_SEGMENT).sum())


def score(metrics: CustomerMetrics, settings: RfmSettings) -> ScoredCustomers:
    scheme, levels, method = settings.resolved()
    values: dict[Metric, NDArray[np.float64] | NDArray[np.int64]] = {
        "r": metrics.recency_days, "f": metrics.frequency, "m": metrics.monetary,
    }
    bands = settings.bands_for(levels) if method == "ranges" else dict.fromkeys(METRICS)
    per_metric: dict[Metric, NDArray[np.int64]] = {}
    for metric in METRICS:
        band_set = bands[metric]
        if band_set is None:
            per_metric[metric] = quantile_scores(values[metric], levels, lower_is_better=metric == "r")
        else:
            per_metric[metric] = band_set.scores(values[metric])
    scores = Scores(per_metric["r"], per_metric["f"], per_metric["m"])
    comparison: dict[Metric, float] = {}
    if scheme.uses_comparison:
        for metric in METRICS:
            fixed = settings.comparison.get(metric)
            s = per_metric[metric]
            comparison[metric] = fixed if fixed is not None else (float(s.mean()) if len(s) else 0.0)
    table = scheme.cell_table(SchemeContext(levels=levels, comparison=comparison))
    codes = assign(table, scores.r, scores.f, scores.m) if len(metrics) else np.zeros(0, dtype=np.int16)
    return ScoredCustomers(
        metrics=metrics,
        scores=scores,
        rfm_score=scores.combined(settings.weights),
        segment_codes=codes,
        segment_names=scheme.segment_names,
        scheme=scheme,
        levels=levels,
        method=method,
        comparison=comparison,
    )
