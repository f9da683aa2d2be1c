"""The fields a sink can be sent per customer, in one table: adding one (a predicted CLV, the previous
segment) is one `PushedField` line here. Each field is built as text for every scored customer at
once (a column), so the segments file and every sink say the same thing."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from rfmsync.core.diff import Record
from rfmsync.core.rfm import ScoredCustomers


def _texts(values: NDArray[np.int64] | NDArray[np.float64], spec: str = "") -> list[str]:
    # map() over a list keeps the per-value work in C: format(v, "") is str(v).
    if not spec and values.dtype.kind in "iu" and len(values) and values.min() >= 0 and values.max() < 4096:
        # Scores, cells, days: few distinct small numbers, each formatted once.
        table = np.asarray(list(map(str, range(int(values.max()) + 1))), dtype=object)
        small: list[str] = table[values].tolist()
        return small
    if spec and len(values) > 1024 and len(np.unique(values[:1024])) < 256 and not bool(
            (np.signbit(values) & (values == 0)).any()):
        # Scores, decayed counts: few distinct values, each formatted once (-0.0, which np.unique
        # would merge with 0.0 but which formats as "-0.00", is left to the general case).
        distinct, inverse = np.unique(values, return_inverse=True)
        if len(distinct) * 4 < len(values):
            table = np.asarray([format(v, spec) for v in distinct.tolist()], dtype=object)
            few: list[str] = table[inverse].tolist()
            return few
    return list(map(format, values.tolist(), itertools.repeat(spec)))


def _number(values: NDArray[np.float64], places: int) -> list[str]:
    """Decimal text without float noise; whole numbers without a fraction."""
    if np.all(values == np.round(values)):
        return _texts(values.astype(np.int64))
    return _texts(values, f".{places}f")


# Customer key -> (previous segment, ISO date of the last change), from the state (sync/segment_history.py).
SegmentHistory = Mapping[str, tuple[str, str]]


class _Picked:
    """A scored store's scores and metrics, in `metrics` order or in a given order."""

    def __init__(self, scored: ScoredCustomers, order: NDArray[np.int64] | None,
                 history: SegmentHistory | None = None) -> None:
        self.scored, self.order, self.history = scored, order, history or {}
        self.r, self.f, self.m = self.pick(scored.scores.r), self.pick(scored.scores.f), self.pick(scored.scores.m)

    def pick(self, values: NDArray[Any]) -> NDArray[Any]:
        return values if self.order is None else values[self.order]

    def from_history(self, part: int) -> list[str]:
        m = self.scored.metrics
        index = self.pick(m.customer_index)
        nothing = ("", "")
        history = self.history
        return [history.get(m.customer_ids[i], nothing)[part] for i in index.tolist()]


@dataclass(frozen=True)
class PushedField:
    name: str
    # What a platform shows for it where it takes a display name (an email platform's merge field name).
    label: str
    column: Callable[[_Picked], list[str]]


FIELDS: tuple[PushedField, ...] = (
    PushedField("segment", "RFM segment", lambda p: np.asarray(  # NO_SEGMENT (-1) picks ""
        [*p.scored.segment_names, ""], dtype=object)[p.pick(p.scored.segment_codes)].tolist()),
    PushedField("rfm_cell", "RFM cell", lambda p: _texts(p.r * 100 + p.f * 10 + p.m)),
    PushedField("rfm_score", "RFM score", lambda p: _texts(p.pick(p.scored.rfm_score), ".2f")),
    PushedField("r_score", "RFM recency score", lambda p: _texts(p.r)),
    PushedField("f_score", "RFM frequency score", lambda p: _texts(p.f)),
    PushedField("m_score", "RFM monetary score", lambda p: _texts(p.m)),
    PushedField("recency_days", "Days since last order", lambda p: _texts(p.pick(p.scored.metrics.recency_days))),
    PushedField("frequency", "Orders", lambda p: _number(p.pick(p.scored.metrics.frequency), 4)),
    PushedField("monetary", "Spend", lambda p: _texts(p.pick(p.scored.metrics.monetary), ".2f")),
    PushedField("micro_segment", "RFM micro-segment",
                lambda p: [f"R{a}F{b}" for a, b in zip(p.r.tolist(), p.f.tolist(), strict=True)]),
    # From the segment history the state keeps: change only when the segment changes, so flows can
    # start on "previous RFM segment" or "RFM segment changed on" (as email platforms show for theirs).
    PushedField("previous_segment", "Previous RFM segment", lambda p: p.from_history(0)),
    PushedField("segment_changed_at", "RFM segment changed on", lambda p: p.from_history(1)),
)
# Fields built from the segment history: the state keeps it only while a sink pushes one of them.
HISTORY_FIELDS = frozenset({"previous_segment", "segment_changed_at"})
BY_NAME = {f.name: f for f in FIELDS}
PUSHABLE_FIELDS = tuple(BY_NAME)
# What a sink is sent unless its config says otherwise; the first pushed field is always "segment".
DEFAULT_FIELDS = ("segment", "rfm_cell")


def check_fields(fields: list[str]) -> list[str]:
    """Validator for a sink config's `fields`."""
    if not fields or fields[0] != "segment":
        raise ValueError("the first pushed field must be 'segment'")
    unknown = [f for f in fields if f not in BY_NAME]
    if unknown:
        raise ValueError(f"unknown field {unknown[0]!r}; fields are {', '.join(PUSHABLE_FIELDS)}")
    if len(set(fields)) != len(fields):
        raise ValueError("pushed fields must not repeat")
    return fields


def field_columns(scored: ScoredCustomers, names: Sequence[str], order: NDArray[np.int64] | None = None,
                  history: SegmentHistory | None = None) -> list[list[str]]:
    """The pushed fields `names` of every scored customer as text, in `metrics` order or in `order`;
    each column is built only when asked for. History fields are "" without `history`."""
    picked = _Picked(scored, order, history)
    return [BY_NAME[name].column(picked) for name in names]


def current_records(scored: ScoredCustomers, names: Sequence[str],
                    history: SegmentHistory | None = None) -> dict[str, Record]:
    """Customer key -> field values in `names` order, for every scored customer."""
    m = scored.metrics
    keys = [m.customer_ids[i] for i in m.customer_index.tolist()]
    return dict(zip(keys, zip(*field_columns(scored, names, history=history), strict=True), strict=True))
