"""The numbers behind `rfmsync report`: pure, built from scored customers and what the caller read.

Everything here is aggregate: no customer id or email reaches the report.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

import numpy as np
from numpy.typing import NDArray
from rfmsync.core.rfm import ScoredCustomers
from rfmsync.core.schemes import BUILTIN_SCHEMES, NO_SEGMENT, SchemeContext, fm_score
from rfmsync.core.scoring import METRICS, BandSet, Metric
from rfmsync.core.segment_notes import note_for

NEW = "(new)"  # the movement matrix's row for customers the previous run did not score
GONE = "(not scored now)"  # its column for customers this run no longer scores
UNSEGMENTED = "(no segment)"


@dataclass(frozen=True)
class PreviousRun:
    """What the previous run put each customer in (a snapshot's keys and segments)."""

    customer_keys: Sequence[str]
    segments: Sequence[str]  # "" for no segment
    as_of: date | None = None
    run_id: int | None = None


@dataclass(frozen=True)
class GridCell:
    r: int
    x: int  # FM or F score, by the scheme's grid
    customers: int
    share: float  # of all scored customers
    average_spend: float | None  # None for an empty cell
    segment: str  # the segment the scheme puts most of this cell's score combinations in
    segments: tuple[str, ...]  # every segment the cell can hold (several for high/low schemes)


@dataclass(frozen=True)
class SegmentRow:
    name: str
    customers: int
    share: float
    revenue: float
    revenue_share: float
    average_recency: float | None
    average_frequency: float | None
    average_spend: float | None
    meaning: str
    action: str


@dataclass(frozen=True)
class BandCount:
    label: str
    score: int
    customers: int


@dataclass(frozen=True)
class Distribution:
    metric: Metric
    by_score: tuple[int, ...]  # customers with score 1..L
    bands: tuple[BandCount, ...] = ()  # for fixed ranges: customers per configured band


@dataclass(frozen=True)
class Flow:
    count: int
    source: str
    target: str

    def sentence(self) -> str:
        if self.source == NEW:
            return f"{self.count:,} new customers joined {self.target}"
        if self.target == GONE:
            return f"{self.count:,} {self.source} are no longer scored"
        return f"{self.count:,} {self.source} became {self.target}"


@dataclass(frozen=True)
class Movement:
    previous_as_of: date | None
    rows: tuple[str, ...]  # "from" labels: segments, then NEW
    columns: tuple[str, ...]  # "to" labels: segments, then GONE
    matrix: tuple[tuple[int, ...], ...]  # [row][column]
    stayed: int
    moved: int
    new: int
    gone: int
    top_flows: tuple[Flow, ...]


@dataclass(frozen=True)
class DataQuality:
    rows_read: int | None = None  # lines of a file (a line-level file has several per order)
    orders_read: int | None = None
    orders_counted: int | None = None
    not_counted: Mapping[str, int] = field(default_factory=dict)  # reason -> orders (status, amount, window)
    rejected: Mapping[str, int] = field(default_factory=dict)  # reason -> records
    orders_without_customer: int | None = None
    customers_without_email: int | None = None
    # A store with several sources: customers matched across them (by email or phone).
    customers_in_several_sources: int | None = None
    orders_filtered_out: int | None = None  # not in the store's rfm.channels / rfm.categories


@dataclass(frozen=True)
class ReportData:
    title: str
    as_of: date
    scheme: str
    grid: str  # "r_fm" or "r_f"
    levels: int
    method: str
    currency: str | None
    customers: int
    revenue: float
    segments: tuple[SegmentRow, ...]
    cells: tuple[GridCell, ...]  # row-major, R from high to low, x from low to high
    distributions: tuple[Distribution, ...]
    movement: Movement | None
    quality: DataQuality
    compares_runs: bool = True  # False for a one-off file: no movement section at all


def _share(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


def _cell_segments(scored: ScoredCustomers) -> dict[tuple[int, int], tuple[str, tuple[str, ...]]]:
    """Per (r, x) grid cell: the dominant segment of its score combinations, and all of them."""
    levels = scored.levels
    table = scored.scheme.cell_table(SchemeContext(levels=levels, comparison=scored.comparison))
    names = [*scored.segment_names, ""]
    per_cell: dict[tuple[int, int], Counter[str]] = {}
    for r in range(1, levels + 1):
        for f in range(1, levels + 1):
            for m in range(1, levels + 1):
                x = int(fm_score(f, m)) if scored.scheme.grid == "r_fm" else f
                code = int(table[r - 1, f - 1, m - 1])
                per_cell.setdefault((r, x), Counter())[names[code] if code != NO_SEGMENT else ""] += 1
    result = {}
    for key, counter in per_cell.items():
        order = sorted(counter, key=lambda s: (-counter[s], names.index(s)))
        result[key] = (order[0], tuple(sorted(counter, key=names.index)))
    return result


def _cells(scored: ScoredCustomers) -> tuple[GridCell, ...]:
    levels, n = scored.levels, len(scored)
    r = scored.scores.r
    x = np.asarray(fm_score(scored.scores.f, scored.scores.m)) if scored.scheme.grid == "r_fm" else scored.scores.f
    flat = (r - 1) * levels + (x - 1)
    counts = np.bincount(flat, minlength=levels * levels)
    spend = np.bincount(flat, weights=scored.metrics.monetary, minlength=levels * levels)
    segment_of = _cell_segments(scored)
    cells = []
    for rr in range(levels, 0, -1):
        for xx in range(1, levels + 1):
            i = (rr - 1) * levels + (xx - 1)
            c = int(counts[i])
            dominant, possible = segment_of[(rr, xx)]
            cells.append(GridCell(rr, xx, c, _share(c, n), float(spend[i]) / c if c else None, dominant, possible))
    return tuple(cells)


def _mean(values: NDArray[np.float64] | NDArray[np.int64], mask: NDArray[np.bool_]) -> float | None:
    return float(values[mask].mean()) if mask.any() else None


def _segments(scored: ScoredCustomers, builtin: bool) -> tuple[SegmentRow, ...]:
    m = scored.metrics
    n = len(scored)
    revenue = float(m.monetary.sum())
    rows = []
    for code, name in [*enumerate(scored.segment_names), (NO_SEGMENT, "")]:
        mask = scored.segment_codes == code
        count = int(mask.sum())
        if code == NO_SEGMENT and count == 0:
            continue
        spend = float(m.monetary[mask].sum())
        note = note_for(scored.scheme.name if builtin else "", name)
        rows.append(SegmentRow(name or UNSEGMENTED, count, _share(count, n), spend, _share(spend, revenue),
                               _mean(m.recency_days, mask), _mean(m.frequency, mask), _mean(m.monetary, mask),
                               note.meaning, note.action))
    return tuple(rows)


def _band_label(metric: Metric, low: float, high: float | None) -> str:
    unit = {"r": " days", "f": " orders", "m": ""}[metric]
    if high is None:
        return f"{low:g}+{unit}" if metric != "m" else f"{low:g} and over"
    if metric == "m":
        return f"{low:g} to under {high:g}"
    return f"{low:g}{unit}" if low == high else f"{low:g}-{high:g}{unit}"


def _distributions(scored: ScoredCustomers, bands: Mapping[Metric, BandSet | None]) -> tuple[Distribution, ...]:
    values = {"r": scored.metrics.recency_days, "f": scored.metrics.frequency, "m": scored.metrics.monetary}
    result = []
    for metric in METRICS:
        s = getattr(scored.scores, metric)
        by_score = np.bincount(s, minlength=scored.levels + 1)[1:scored.levels + 1]
        band_counts: tuple[BandCount, ...] = ()
        band_set = bands.get(metric) if scored.method == "ranges" else None
        if band_set is not None:
            ordered = sorted(band_set.bands, key=lambda b: b.low)
            lows = np.asarray([b.low for b in ordered], dtype=np.float64)
            idx = np.clip(np.searchsorted(lows, np.asarray(values[metric], dtype=np.float64), side="right") - 1,
                          0, len(ordered) - 1)
            per_band = np.bincount(idx, minlength=len(ordered))
            band_counts = tuple(BandCount(_band_label(metric, b.low, b.high), b.score, int(per_band[i]))
                                for i, b in enumerate(ordered))
        result.append(Distribution(metric, tuple(int(v) for v in by_score), band_counts))
    return tuple(result)


def customer_keys(scored: ScoredCustomers) -> list[str]:
    ids = scored.metrics.customer_ids
    return [ids[i] for i in scored.metrics.customer_index.tolist()]


def movement(scored: ScoredCustomers, previous: PreviousRun, top: int = 5) -> Movement:
    """From/to counts of customers between the previous run's segments and this run's."""
    labels = [s or UNSEGMENTED for s in scored.segment_labels()]
    before = {k: (s or UNSEGMENTED) for k, s in zip(previous.customer_keys, previous.segments, strict=True)}
    now_keys = customer_keys(scored)
    pairs: Counter[tuple[str, str]] = Counter()
    for key, seg in zip(now_keys, labels, strict=True):
        pairs[(before.pop(key, NEW), seg)] += 1
    for seg in before.values():
        pairs[(seg, GONE)] += 1
    order = list(scored.segment_names)
    seen = {s for pair in pairs for s in pair} - {NEW, GONE}
    order += sorted(seen - set(order))  # segments of an older scheme, or no segment
    rows = (*order, NEW)
    columns = (*order, GONE)
    matrix = tuple(tuple(pairs.get((a, b), 0) for b in columns) for a in rows)
    stayed = sum(n for (a, b), n in pairs.items() if a == b)
    new = sum(n for (a, _), n in pairs.items() if a == NEW)
    gone = sum(n for (_, b), n in pairs.items() if b == GONE)
    moved = sum(pairs.values()) - stayed - new - gone
    flows = sorted((Flow(n, a, b) for (a, b), n in pairs.items() if a != b and n),
                   key=lambda fl: (-fl.count, rows.index(fl.source), columns.index(fl.target)))
    return Movement(previous.as_of, rows, columns, matrix, stayed, moved, new, gone, tuple(flows[:top]))


def build_report(scored: ScoredCustomers, as_of: date, *, title: str = "RFM report", currency: str | None = None,
                 previous: PreviousRun | None = None, quality: DataQuality | None = None,
                 bands: Mapping[Metric, BandSet | None] | None = None, compares_runs: bool = True) -> ReportData:
    builtin = BUILTIN_SCHEMES.get(scored.scheme.name) is scored.scheme
    return ReportData(
        title=title, as_of=as_of, scheme=scored.scheme.name, grid=scored.scheme.grid, levels=scored.levels,
        method=scored.method, currency=currency, customers=len(scored),
        revenue=float(scored.metrics.monetary.sum()), segments=_segments(scored, builtin), cells=_cells(scored),
        distributions=_distributions(scored, bands or {}),
        movement=movement(scored, previous) if previous is not None else None,
        quality=quality or DataQuality(),
        compares_runs=compares_runs,
    )
