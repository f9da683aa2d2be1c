"""What a sink is sent per customer: the pushed fields of every scored customer, as text."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
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


def field_columns(scored: ScoredCustomers, names: Sequence[str],
                  order: NDArray[np.int64] | None = None) -> list[list[str]]:
    """The pushed fields `names` of every scored customer as text, in `metrics` order or in `order`.

    One formatting for the segments file and for sinks, so both say the same thing; each column is
    built only when asked for.
    """
    m, s = scored.metrics, scored.scores

    def pick(values: NDArray[Any]) -> NDArray[Any]:
        return values if order is None else values[order]

    r, f, mm = pick(s.r), pick(s.f), pick(s.m)
    builders: dict[str, Callable[[], list[str]]] = {
        "segment": lambda: np.asarray([*scored.segment_names, ""], dtype=object)[  # NO_SEGMENT (-1) picks ""
            pick(scored.segment_codes)].tolist(),
        "rfm_cell": lambda: _texts(r * 100 + f * 10 + mm),
        "rfm_score": lambda: _texts(pick(scored.rfm_score), ".2f"),
        "r_score": lambda: _texts(r),
        "f_score": lambda: _texts(f),
        "m_score": lambda: _texts(mm),
        "recency_days": lambda: _texts(pick(m.recency_days)),
        "frequency": lambda: _number(pick(m.frequency), 4),
        "monetary": lambda: _texts(pick(m.monetary), ".2f"),
        "micro_segment": lambda: [f"R{a}F{b}" for a, b in zip(r.tolist(), f.tolist(), strict=True)],
    }
    return [builders[name]() for name in names]


def current_records(scored: ScoredCustomers, names: Sequence[str]) -> dict[str, Record]:
    """Customer key -> field values in `names` order, for every scored customer."""
    m = scored.metrics
    keys = [m.customer_ids[i] for i in m.customer_index.tolist()]
    return dict(zip(keys, zip(*field_columns(scored, names), strict=True), strict=True))
