"""What a sink is sent per customer: the pushed fields of every scored customer, as text."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from rfmsync.core.diff import Record
from rfmsync.core.rfm import ScoredCustomers


def _text(values: NDArray[np.float64], places: int) -> list[str]:
    if np.all(values == np.round(values)):
        return [str(v) for v in values.astype(np.int64).tolist()]
    return [f"{v:.{places}f}" for v in values.tolist()]


def field_columns(scored: ScoredCustomers, names: Sequence[str]) -> list[list[str]]:
    m, s = scored.metrics, scored.scores
    builders = {
        "segment": lambda: scored.segment_labels(),
        "rfm_cell": lambda: [str(v) for v in (s.r * 100 + s.f * 10 + s.m).tolist()],
        "rfm_score": lambda: [f"{v:.2f}" for v in scored.rfm_score.tolist()],
        "r_score": lambda: [str(v) for v in s.r.tolist()],
        "f_score": lambda: [str(v) for v in s.f.tolist()],
        "m_score": lambda: [str(v) for v in s.m.tolist()],
        "recency_days": lambda: [str(v) for v in m.recency_days.tolist()],
        "frequency": lambda: _text(m.frequency, 4),
        "monetary": lambda: [f"{v:.2f}" for v in m.monetary.tolist()],
        "micro_segment": lambda: [f"R{a}F{b}" for a, b in zip(s.r.tolist(), s.f.tolist(), strict=True)],
    }
    return [builders[name]() for name in names]


def current_records(scored: ScoredCustomers, names: Sequence[str]) -> dict[str, Record]:
    """Customer key -> field values in `names` order, for every scored customer."""
    m = scored.metrics
    keys = [m.customer_ids[i] for i in m.customer_index.tolist()]
    return dict(zip(keys, zip(*field_columns(scored, names), strict=True), strict=True))
