"""Orders to per-customer recency, frequency and monetary value (docs/scoring.md, "Inputs")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray
from rfmsync.core.batch import MONEY_SCALE, OrderBatch
from rfmsync.core.models import EXCLUDED_STATUS_CODES
from rfmsync.core.timezones import local_days

_EPOCH = date(1970, 1, 1)


@dataclass(frozen=True)
class CustomerMetrics:
    """Recency, frequency and monetary value of each scored customer.

    `customer_index[i]` indexes the batch's `customer_ids`. Only customers with at least one counted
    order in the window appear. Frequency and monetary are whole counts and exact sums unless time
    decay is on, when they are weighted.
    """

    customer_ids: list[str] | tuple[str, ...]
    customer_index: NDArray[np.int64]
    recency_days: NDArray[np.int64]
    frequency: NDArray[np.float64]
    monetary: NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.customer_index)


@dataclass(frozen=True)
class OrderCounts:
    """What happened to the orders on the way to the metrics, for summaries and reports."""

    orders: int
    counted: int
    excluded_status: int
    not_positive: int
    outside_window: int
    # Negative orders (credit notes, cancellation invoices) subtracted from monetary in the window.
    returns: int = 0


def as_of_day(as_of: date) -> int:
    return (as_of - _EPOCH).days


def aggregate(
    batch: OrderBatch,
    as_of: date,
    tz: ZoneInfo,
    window_days: int | None = None,
    half_life_days: float | None = None,
    returns: Literal["subtract", "ignore"] = "subtract",
) -> tuple[CustomerMetrics, OrderCounts]:
    """Per-customer metrics as of the end of `as_of` in `tz`.

    An order counts when `as_of - window_days < its local date <= as_of`; orders after `as_of` are
    ignored as not yet happened. A return recorded as its own negative order (not cancelled, voided
    or test) in the window reduces its customer's monetary value, never below zero, and is not an
    order (docs/scoring.md); `returns="ignore"` leaves such orders out entirely.
    """
    if window_days is not None and window_days < 1:
        raise ValueError("window_days must be at least 1")
    if half_life_days is not None and half_life_days <= 0:
        raise ValueError("half_life_days must be above 0")
    end = as_of_day(as_of)
    days = local_days(batch.created_utc, tz)
    # An order counts when it is not cancelled, voided or test and its net amount is above zero;
    # the pieces are kept for the counts below. Masks are combined in place and amounts go
    # to bincount as they are, because each extra 10M-element temporary costs more in page faults
    # than the arithmetic on it.
    excluded = np.isin(batch.status_codes, EXCLUDED_STATUS_CODES)
    good = batch.amount_units > 0
    good &= ~excluded
    use = days <= end
    if window_days is not None:
        use &= days > end - window_days
    is_return = None
    if returns == "subtract":
        is_return = use & (batch.amount_units < 0) & ~excluded
    use &= good

    codes = batch.customer_codes[use]
    order_days = days[use]
    del days  # lowers the peak: the 10M local days are no longer needed
    n = len(batch.customer_ids)
    count: NDArray[np.int64] = np.bincount(codes, minlength=n).astype(np.int64, copy=False)
    last = np.full(n, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(last, codes, order_days)
    amounts = batch.amount_units[use]
    if half_life_days is None:
        frequency: NDArray[np.float64] = count.astype(np.float64)
        # bincount sums in float64: exact for sums of whole units up to 2**53 units (~9e11 in currency).
        monetary = np.bincount(codes, weights=amounts, minlength=n) / MONEY_SCALE
    else:
        weight = 0.5 ** ((end - order_days) / half_life_days)
        frequency = np.bincount(codes, weights=weight, minlength=n).astype(np.float64)
        monetary = np.bincount(codes, weights=weight * amounts, minlength=n) / MONEY_SCALE
    n_returns = 0
    if is_return is not None and is_return.any():
        n_returns = int(np.count_nonzero(is_return))
        return_codes = batch.customer_codes[is_return]
        return_units = batch.amount_units[is_return].astype(np.float64)
        if half_life_days is not None:
            return_units *= 0.5 ** ((end - local_days(batch.created_utc[is_return], tz)) / half_life_days)
        monetary += np.bincount(return_codes, weights=return_units, minlength=n) / MONEY_SCALE
        np.maximum(monetary, 0.0, out=monetary)
    scored = np.flatnonzero(count > 0)
    metrics = CustomerMetrics(
        customer_ids=batch.customer_ids if isinstance(batch.customer_ids, list) else list(batch.customer_ids),
        customer_index=scored.astype(np.int64),
        recency_days=(end - last[scored]).astype(np.int64),
        frequency=frequency[scored],
        monetary=monetary[scored],
    )
    n_excluded, n_good, n_used = (int(np.count_nonzero(mask)) for mask in (excluded, good, use))
    counts = OrderCounts(
        orders=len(batch),
        counted=n_used,
        excluded_status=n_excluded,
        not_positive=len(batch) - n_excluded - n_good,
        outside_window=n_good - n_used,
        returns=n_returns,
    )
    return metrics, counts


def metrics_from_summary(
    customer_ids: list[str],
    last_order_day: NDArray[np.int64],
    order_count: NDArray[np.float64],
    spend: NDArray[np.float64],
    as_of: date,
) -> CustomerMetrics:
    """Metrics from a per-customer summary (Quick Audience's "order summary" input).

    Customers with no orders, no positive spend or a last order after `as_of` are not scored.
    """
    end = as_of_day(as_of)
    keep = np.flatnonzero((order_count > 0) & (spend > 0) & (last_order_day <= end))
    return CustomerMetrics(
        customer_ids=customer_ids,
        customer_index=keep.astype(np.int64),
        recency_days=(end - last_order_day[keep]).astype(np.int64),
        frequency=order_count[keep].astype(np.float64),
        monetary=spend[keep].astype(np.float64),
    )
