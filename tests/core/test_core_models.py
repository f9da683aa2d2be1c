"""core.models.Order validation and core.batch columns (docs/scoring.md, "counted order")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from pydantic import ValidationError
from rfmsync.core.batch import MONEY_SCALE, OrderBatch, factorize, to_units
from rfmsync.core.models import STATUS_CODES, Order, OrderStatus, normalize_email


def make(**overrides: object) -> Order:
    fields: dict[str, object] = {
        "source": "test",
        "order_id": "o1",
        "customer_key": "c1",
        "created_at": datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
        "amount": Decimal("10.00"),
        "currency": "EUR",
    }
    fields.update(overrides)
    return Order.model_validate(fields)


def test_naive_datetime_is_rejected() -> None:
    with pytest.raises(ValidationError, match="must carry a time zone"):
        make(created_at=datetime(2024, 5, 1, 12, 0))
    with pytest.raises(ValidationError, match="must carry a time zone"):
        make(updated_at=datetime(2024, 5, 1, 12, 0))


def test_aware_datetime_is_converted_to_utc() -> None:
    # 19:30 EDT (UTC-4, DST started that morning) is 23:30 UTC.
    order = make(created_at=datetime(2024, 3, 10, 19, 30, tzinfo=ZoneInfo("America/New_York")))
    assert order.created_at == datetime(2024, 3, 10, 23, 30, tzinfo=UTC)
    assert order.created_at.utcoffset() is not None
    assert order.created_at.utcoffset() == timedelta(0)


def test_currency_is_upper_cased_and_checked() -> None:
    assert make(currency="eur").currency == "EUR"
    assert make(currency="Usd").currency == "USD"
    with pytest.raises(ValidationError, match="three-letter ISO 4217"):
        make(currency="EU1")
    with pytest.raises(ValidationError):
        make(currency="EURO")
    with pytest.raises(ValidationError):
        make(currency="EU")


@pytest.mark.parametrize(("raw", "expected"), [("  ", None), ("", None), (" abc ", "abc"), (None, None), ("42", "42")])
def test_blank_customer_key_becomes_none(raw: str | None, expected: str | None) -> None:
    assert make(customer_key=raw).customer_key == expected


def test_blank_email_and_phone_become_none() -> None:
    order = make(email="   ", phone="")
    assert order.email is None
    assert order.phone is None
    assert make(email=" A@B.example ").email == "A@B.example"  # trimmed only; normalize_email lowers
    assert normalize_email(" A@B.example ") == "a@b.example"


@pytest.mark.parametrize(
    ("status", "amount", "counted"),
    [
        (OrderStatus.PAID, "10.00", True),
        (OrderStatus.PENDING, "10.00", True),
        (OrderStatus.PARTIALLY_REFUNDED, "4.50", True),  # counts with its net amount
        (OrderStatus.REFUNDED, "0", False),  # refunded to zero
        (OrderStatus.PAID, "0", False),
        (OrderStatus.PAID, "-5", False),
        (OrderStatus.PAID, "0.0001", True),
        (OrderStatus.CANCELLED, "10.00", False),
        (OrderStatus.VOIDED, "10.00", False),
        (OrderStatus.TEST, "10.00", False),
    ],
)
def test_counted_property(status: OrderStatus, amount: str, counted: bool) -> None:
    assert make(status=status, amount=Decimal(amount)).counted is counted


def test_order_is_strict() -> None:
    with pytest.raises(ValidationError):
        make(unexpected="x")
    with pytest.raises(ValidationError, match="finite"):
        make(amount=Decimal("NaN"))
    with pytest.raises(ValidationError):
        make(order_id="")
    order = make()
    with pytest.raises(ValidationError):
        order.amount = Decimal("1")


def test_to_units_is_exact_and_rounds_half_to_even() -> None:
    assert MONEY_SCALE == 10_000
    assert to_units(Decimal("12.3456")) == 123_456
    assert to_units(10.10) + to_units(19.90) == to_units(30) == 300_000
    assert to_units(Decimal("0.00005")) == 0  # 0.5 units -> even 0
    assert to_units(Decimal("0.00015")) == 2  # 1.5 units -> even 2
    assert to_units(Decimal("-2.5")) == -25_000


def test_batch_from_orders() -> None:
    t0 = datetime(2024, 1, 1, tzinfo=UTC)  # 19723 days * 86400 = 1_704_067_200
    orders = [
        make(order_id="1", customer_key="b", created_at=t0, amount=Decimal("1.5")),
        make(order_id="2", customer_key="a", created_at=t0.replace(hour=1), amount=Decimal("2"),
             status=OrderStatus.CANCELLED),
        make(order_id="3", customer_key="b", created_at=t0.replace(day=2), amount=Decimal("0.0001")),
    ]
    batch = OrderBatch.from_orders(orders)
    assert batch.customer_ids == ["b", "a"]
    assert len(batch) == 3
    np.testing.assert_array_equal(batch.customer_codes, [0, 1, 0])
    np.testing.assert_array_equal(batch.created_utc, [1_704_067_200, 1_704_070_800, 1_704_153_600])
    np.testing.assert_array_equal(batch.amount_units, [15_000, 20_000, 1])
    np.testing.assert_array_equal(
        batch.status_codes,
        [STATUS_CODES[OrderStatus.PAID], STATUS_CODES[OrderStatus.CANCELLED], STATUS_CODES[OrderStatus.PAID]],
    )


def test_batch_rejects_orders_without_key_and_ragged_columns() -> None:
    with pytest.raises(ValueError, match="order 9 has no customer key"):
        OrderBatch.from_orders([make(order_id="9", customer_key=" ")])
    with pytest.raises(ValueError, match="amount_units"):
        OrderBatch(["a"], np.zeros(2, np.int64), np.zeros(2, np.int64), np.zeros(1, np.int64), np.zeros(2, np.uint8))


def test_factorize_keeps_first_seen_order() -> None:
    ids, codes = factorize(["x", "y", "x", "z", "y"])
    assert ids == ["x", "y", "z"]
    np.testing.assert_array_equal(codes, [0, 1, 0, 2, 1])
