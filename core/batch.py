"""Columnar orders: the form the engine works on, so scoring never loops over orders in Python."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
from numpy.typing import NDArray
from rfmsync.core.models import STATUS_CODES, Order

# Amounts are held as integers of 1/10,000 of the currency unit so that equal spends compare equal
# (float sums of 10.10 + 19.90 and 30.00 differ, which would split tied customers across scores).
# Four places cover every ISO 4217 currency (the most any has is three).
MONEY_SCALE = 10_000


@dataclass(frozen=True)
class OrderBatch:
    """Orders as parallel arrays. `customer_codes[i]` indexes `customer_ids`."""

    customer_ids: Sequence[str]
    customer_codes: NDArray[np.int64]
    created_utc: NDArray[np.int64]  # seconds since the epoch, UTC
    amount_units: NDArray[np.int64]  # net amount in 1/MONEY_SCALE of the store currency
    status_codes: NDArray[np.uint8]  # rfmsync.core.models.STATUS_CODES

    def __post_init__(self) -> None:
        n = len(self.customer_codes)
        for name in ("created_utc", "amount_units", "status_codes"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"OrderBatch.{name} has a different length from customer_codes")

    def __len__(self) -> int:
        return len(self.customer_codes)

    @classmethod
    def from_orders(cls, orders: Iterable[Order]) -> OrderBatch:
        """Columns from validated orders that all carry a customer key in the store currency."""
        ids: dict[str, int] = {}
        codes: list[int] = []
        created: list[int] = []
        amounts: list[int] = []
        statuses: list[int] = []
        for order in orders:
            if order.customer_key is None:
                raise ValueError(f"order {order.order_id} has no customer key; it cannot be scored")
            codes.append(ids.setdefault(order.customer_key, len(ids)))
            created.append(int(order.created_at.timestamp()))
            amounts.append(to_units(order.amount))
            statuses.append(STATUS_CODES[order.status])
        return cls(
            customer_ids=list(ids),
            customer_codes=np.asarray(codes, dtype=np.int64),
            created_utc=np.asarray(created, dtype=np.int64),
            amount_units=np.asarray(amounts, dtype=np.int64),
            status_codes=np.asarray(statuses, dtype=np.uint8),
        )


def to_units(amount: Decimal | float | int) -> int:
    """An amount in 1/MONEY_SCALE units, rounded half to even."""
    return int((Decimal(str(amount)) * MONEY_SCALE).to_integral_value())


def factorize(values: Sequence[str]) -> tuple[list[str], NDArray[np.int64]]:
    """Distinct values in first-seen order and each value's index into them.

    A dict is faster than `np.unique` on strings (no sort) and keeps the file's order.
    """
    index: dict[str, int] = {}
    setdefault = index.setdefault
    codes = np.fromiter((setdefault(v, len(index)) for v in values), dtype=np.int64, count=len(values))
    return list(index), codes
