"""Orders to recency, frequency and monetary (docs/scoring.md, "Inputs and the three values")."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from rfmsync.core.aggregate import CustomerMetrics, OrderCounts, aggregate, metrics_from_summary
from rfmsync.core.batch import OrderBatch
from rfmsync.core.models import STATUS_CODES, Order, OrderStatus
from rfmsync.core.rfm import RfmSettings, score

UTC_ZONE = ZoneInfo("UTC")
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
_ids = itertools.count()


def order(customer: str, when: str, amount: str, status: OrderStatus = OrderStatus.PAID) -> Order:
    return Order(
        source="test", order_id=f"o{next(_ids)}", customer_key=customer,
        created_at=datetime.fromisoformat(when).replace(tzinfo=UTC),
        amount=Decimal(amount), currency="EUR", status=status,
    )


def rows(m: CustomerMetrics) -> dict[str, tuple[int, float, float]]:
    """customer id -> (recency_days, frequency, monetary)."""
    return {
        m.customer_ids[i]: (int(r), float(f), float(v))
        for i, r, f, v in zip(m.customer_index.tolist(), m.recency_days, m.frequency, m.monetary, strict=True)
    }


def window_batch() -> OrderBatch:
    return OrderBatch.from_orders([
        order("a", "2024-06-30T12:00:00", "10.00"),
        order("a", "2024-06-01T00:00:00", "20.00"),
        order("a", "2024-05-31T23:59:59", "40.00"),  # 30 days before as_of: outside a 30-day window
        order("a", "2024-07-01T00:00:00", "80.00"),  # after as_of: not yet happened
        order("b", "2024-05-31T10:00:00", "7.00"),
        order("c", "2024-06-15T08:00:00", "5.50"),
    ])


def test_window_thirty_days() -> None:
    # Counts local dates d with 2024-06-30 - 30 = 2024-05-31 < d <= 2024-06-30, i.e. June 1..30.
    metrics, counts = aggregate(window_batch(), date(2024, 6, 30), UTC_ZONE, window_days=30)
    assert rows(metrics) == {"a": (0, 2.0, 30.0), "c": (15, 1.0, 5.5)}
    assert metrics.customer_ids == ["a", "b", "c"]
    assert metrics.customer_index.tolist() == [0, 2]
    assert len(metrics) == 2
    # 6 orders: a's two June orders and c's counted; a's May 31 and July 1, b's May 31 outside.
    assert counts == OrderCounts(orders=6, counted=3, excluded_status=0, not_positive=0, outside_window=3)


def test_no_window_counts_all_history_up_to_as_of() -> None:
    metrics, counts = aggregate(window_batch(), date(2024, 6, 30), UTC_ZONE)
    # a: 10 + 20 + 40 (July 1 ignored); b: June 30 - May 31 = 30 days.
    assert rows(metrics) == {"a": (0, 3.0, 70.0), "b": (30, 1.0, 7.0), "c": (15, 1.0, 5.5)}
    assert counts == OrderCounts(orders=6, counted=5, excluded_status=0, not_positive=0, outside_window=1)


def test_one_day_window_counts_only_as_of() -> None:
    metrics, counts = aggregate(window_batch(), date(2024, 6, 30), UTC_ZONE, window_days=1)
    assert rows(metrics) == {"a": (0, 1.0, 10.0)}
    assert counts.counted == 1 and counts.outside_window == 5


def test_as_of_moves_recency() -> None:
    # as_of 2024-07-01 with 31 days: June 1 .. July 1; a's last order is now July 1 (recency 0).
    metrics, _ = aggregate(window_batch(), date(2024, 7, 1), UTC_ZONE, window_days=31)
    assert rows(metrics) == {"a": (0, 3.0, 110.0), "c": (16, 1.0, 5.5)}
    # as_of before every order: nobody is scored.
    metrics, counts = aggregate(window_batch(), date(2024, 5, 1), UTC_ZONE)
    assert len(metrics) == 0 and counts.outside_window == 6 and counts.counted == 0


def test_counted_order_rules() -> None:
    batch = OrderBatch.from_orders([
        order("x", "2024-06-10T10:00:00", "100", OrderStatus.PAID),
        order("x", "2024-06-29T10:00:00", "50", OrderStatus.CANCELLED),
        order("x", "2024-06-29T10:00:00", "60", OrderStatus.VOIDED),
        order("x", "2024-06-29T10:00:00", "70", OrderStatus.TEST),
        order("x", "2024-06-28T10:00:00", "0", OrderStatus.REFUNDED),  # refunded to zero
        order("x", "2024-06-20T10:00:00", "30", OrderStatus.PARTIALLY_REFUNDED),  # net after refund
        order("x", "2024-06-05T10:00:00", "20", OrderStatus.PENDING),
        order("x", "2024-06-27T10:00:00", "-5", OrderStatus.PAID),
        order("y", "2024-06-29T10:00:00", "500", OrderStatus.CANCELLED),
        order("y", "2024-06-29T11:00:00", "0", OrderStatus.TEST),
        order("z", "2024-06-29T10:00:00", "0", OrderStatus.REFUNDED),
    ])
    metrics, counts = aggregate(batch, date(2024, 6, 30), UTC_ZONE)
    # x: paid 100 (06-10), partial 30 (06-20), pending 20 (06-05): last counted June 20 -> 10 days;
    # the paid -5 is a return: not an order, but 5 less spend.
    assert rows(metrics) == {"x": (10, 3.0, 145.0)}
    # excluded: x cancelled, voided, test; y cancelled, test (with 0, still only "excluded") = 5
    # not_positive: x refunded 0, x paid -5, z refunded 0 = 3
    assert counts == OrderCounts(orders=11, counted=3, excluded_status=5, not_positive=3, outside_window=0,
                                 returns=1)
    metrics, counts = aggregate(batch, date(2024, 6, 30), UTC_ZONE, returns="ignore")
    assert rows(metrics) == {"x": (10, 3.0, 150.0)} and counts.returns == 0


def test_returns_reduce_monetary_inside_the_window_never_below_zero() -> None:
    batch = OrderBatch.from_orders([
        # docs/scoring.md's example: 100 and 50 and a credit note of -100 give F 2, M 50.
        order("a", "2024-06-01T10:00:00", "100"),
        order("a", "2024-06-10T10:00:00", "50"),
        order("a", "2024-06-29T10:00:00", "-100"),  # the latest: recency still from June 10
        order("b", "2024-06-01T10:00:00", "30"),
        order("b", "2024-06-02T10:00:00", "-80"),  # more returned than bought (in the window): 0
        order("c", "2024-06-20T10:00:00", "40"),
        order("c", "2024-01-02T10:00:00", "-40"),  # outside a 90-day window: no effect
        order("d", "2024-06-20T10:00:00", "-25"),  # only a return: not a scored customer
        order("e", "2024-06-20T10:00:00", "70"),
        order("e", "2024-06-21T10:00:00", "-20", OrderStatus.CANCELLED),  # a cancelled credit note: nothing
    ])
    metrics, counts = aggregate(batch, date(2024, 6, 30), UTC_ZONE, window_days=90)
    assert rows(metrics) == {"a": (20, 2.0, 50.0), "b": (29, 1.0, 0.0), "c": (10, 1.0, 40.0), "e": (10, 1.0, 70.0)}
    assert counts.returns == 3 and counts.counted == 5


def test_a_return_weighs_like_an_order_of_its_age_under_time_decay() -> None:
    batch = OrderBatch.from_orders([
        order("a", "2024-06-30T10:00:00", "100"),  # weight 1
        order("a", "2024-05-31T10:00:00", "-40"),  # age 30 of half-life 30: weight 0.5 -> -20
    ])
    metrics, _ = aggregate(batch, date(2024, 6, 30), UTC_ZONE, half_life_days=30)
    assert rows(metrics) == {"a": (0, 1.0, 80.0)}


def test_time_decay_half_life() -> None:
    batch = OrderBatch.from_orders([
        order("d", "2024-06-30T09:00:00", "100"),  # age 0: weight 1
        order("d", "2024-05-31T09:00:00", "200"),  # age 30: weight 0.5
        order("d", "2024-05-01T09:00:00", "400"),  # age 60: weight 0.25
        order("e", "2024-06-25T09:00:00", "10"),  # age 5: weight 0.5 ** (5 / 30)
    ])
    metrics, counts = aggregate(batch, date(2024, 6, 30), UTC_ZONE, half_life_days=30)
    got: dict[str, tuple[object, ...]] = dict(rows(metrics))
    # d: F = 1 + 0.5 + 0.25 = 1.75; M = 100 + 100 + 100 = 300; recency is not decayed.
    assert got["d"] == (0, pytest.approx(1.75), pytest.approx(300.0))
    # e: weight 0.5 ** (5 / 30) = 0.5 ** (1 / 6) ~ 0.8909
    assert got["e"] == (5, pytest.approx(0.5 ** (1 / 6)), pytest.approx(10 * 0.5 ** (1 / 6)))
    assert counts.counted == 4
    # With a 30-day window (June 1 .. June 30: May 31 and May 1 drop out).
    metrics, _ = aggregate(batch, date(2024, 6, 30), UTC_ZONE, window_days=30, half_life_days=30)
    assert rows(metrics)["d"] == (0, 1.0, 100.0)


def test_decay_of_fractional_half_life() -> None:
    batch = OrderBatch.from_orders([order("f", "2024-06-20T00:00:00", "8")])
    metrics, _ = aggregate(batch, date(2024, 6, 30), UTC_ZONE, half_life_days=2.5)
    # age 10 = 4 half-lives: weight 1/16; M = 8 / 16 = 0.5
    assert rows(metrics)["f"] == (10, 0.0625, 0.5)


def test_invalid_window_and_half_life() -> None:
    batch = window_batch()
    with pytest.raises(ValueError, match="window_days must be at least 1"):
        aggregate(batch, date(2024, 6, 30), UTC_ZONE, window_days=0)
    with pytest.raises(ValueError, match="half_life_days must be above 0"):
        aggregate(batch, date(2024, 6, 30), UTC_ZONE, half_life_days=0)


# --- time zones around midnight


def test_order_near_midnight_utc_berlin_new_york() -> None:
    # 2024-03-10T23:30Z: Berlin (CET, +1) 00:30 on March 11; New York (EDT since 07:00Z that day, -4)
    # 19:30 on March 10, the US DST transition date.
    batch = OrderBatch.from_orders([order("g", "2024-03-10T23:30:00", "12")])
    as_of = date(2024, 3, 12)
    assert rows(aggregate(batch, as_of, BERLIN)[0]) == {"g": (1, 1.0, 12.0)}
    assert rows(aggregate(batch, as_of, NEW_YORK)[0]) == {"g": (2, 1.0, 12.0)}
    assert rows(aggregate(batch, as_of, UTC_ZONE)[0]) == {"g": (2, 1.0, 12.0)}
    # A one-day window on March 11 catches it only where it is local March 11.
    assert len(aggregate(batch, date(2024, 3, 11), BERLIN, window_days=1)[0]) == 1
    assert len(aggregate(batch, date(2024, 3, 11), NEW_YORK, window_days=1)[0]) == 0
    # as_of March 10 in Berlin: the order is "tomorrow" there, so not yet happened.
    metrics, counts = aggregate(batch, date(2024, 3, 10), BERLIN)
    assert len(metrics) == 0 and counts.outside_window == 1
    assert rows(aggregate(batch, date(2024, 3, 10), NEW_YORK)[0]) == {"g": (0, 1.0, 12.0)}


def test_berlin_fall_back_day() -> None:
    # 2024-10-27: CEST (+2) until 01:00Z, then CET (+1). 2024-10-26T22:30Z is 00:30 Oct 27 (+2);
    # 2024-10-27T22:30Z is 23:30 Oct 27 (+1). Both are Berlin Oct 27; in UTC they fall on 26 and 27.
    batch = OrderBatch.from_orders([
        order("h", "2024-10-26T22:30:00", "1"),
        order("h", "2024-10-27T22:30:00", "2"),
        order("k", "2024-10-27T23:00:00", "4"),  # 00:00 Oct 28 in Berlin
    ])
    as_of = date(2024, 10, 27)
    metrics, counts = aggregate(batch, as_of, BERLIN, window_days=1)
    assert rows(metrics) == {"h": (0, 2.0, 3.0)}
    assert counts.outside_window == 1
    metrics, _ = aggregate(batch, as_of, UTC_ZONE, window_days=1)
    assert rows(metrics) == {"h": (0, 1.0, 2.0), "k": (0, 1.0, 4.0)}
    metrics, _ = aggregate(batch, date(2024, 10, 28), BERLIN)
    assert rows(metrics) == {"h": (1, 2.0, 3.0), "k": (0, 1.0, 4.0)}


# --- OrderBatch built from arrays


def test_batch_from_arrays() -> None:
    jan1 = 1_704_067_200  # 2024-01-01T00:00Z = 19723 days * 86400
    paid, voided = STATUS_CODES[OrderStatus.PAID], STATUS_CODES[OrderStatus.VOIDED]
    batch = OrderBatch(
        customer_ids=("p", "q", "r"),
        customer_codes=np.asarray([0, 0, 1, 2], dtype=np.int64),
        created_utc=np.asarray([jan1, jan1 + 9 * 86_400 + 3_600, jan1 - 1, jan1], dtype=np.int64),
        amount_units=np.asarray([100_000, 25_000, 10_000, 990_000], dtype=np.int64),
        status_codes=np.asarray([paid, paid, paid, voided], dtype=np.uint8),
    )
    # UTC: p on Jan 1 (10.00) and Jan 10 01:00 (2.50); q on Dec 31 23:59:59 (1.00); r only voided.
    metrics, counts = aggregate(batch, date(2024, 1, 10), UTC_ZONE)
    assert metrics.customer_ids == ["p", "q", "r"]
    assert metrics.customer_index.tolist() == [0, 1]
    assert metrics.recency_days.tolist() == [0, 10]
    assert metrics.frequency.tolist() == [2.0, 1.0]
    assert metrics.monetary.tolist() == [12.5, 1.0]
    assert counts == OrderCounts(orders=4, counted=3, excluded_status=1, not_positive=0, outside_window=0)
    # Tokyo (+9, no DST): q's order is 08:59:59 on Jan 1 there -> 9 days before Jan 10.
    metrics, _ = aggregate(batch, date(2024, 1, 10), ZoneInfo("Asia/Tokyo"))
    assert metrics.recency_days.tolist() == [0, 9]


def test_empty_batch() -> None:
    empty = OrderBatch([], np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.uint8))
    metrics, counts = aggregate(empty, date(2024, 1, 1), BERLIN, window_days=7, half_life_days=3)
    assert len(metrics) == 0
    assert counts == OrderCounts(0, 0, 0, 0, 0)


def test_summary_input() -> None:
    as_of = date(2024, 1, 10)  # day 19732
    metrics = metrics_from_summary(
        ["s1", "s2", "s3", "s4"],
        last_order_day=np.asarray([19730, 19700, 19733, 19731], dtype=np.int64),  # s3 after as_of
        order_count=np.asarray([2.0, 5.0, 1.0, 0.0]),  # s4 has no orders
        spend=np.asarray([40.0, 10.0, 5.0, 0.0]),
        as_of=as_of,
    )
    assert metrics.customer_index.tolist() == [0, 1]
    assert metrics.recency_days.tolist() == [2, 32]
    assert metrics.frequency.tolist() == [2.0, 5.0]
    assert metrics.monetary.tolist() == [40.0, 10.0]


def test_orders_to_segments_end_to_end() -> None:
    batch = OrderBatch.from_orders([
        order("new", "2024-06-30T10:00:00", "20"),
        order("loyal", "2024-06-29T10:00:00", "300"),
        order("loyal", "2024-05-01T10:00:00", "300"),
        order("gone", "2023-01-10T10:00:00", "50"),
    ])
    metrics, _ = aggregate(batch, date(2024, 6, 30), UTC_ZONE)
    # Spreadsheet ranges: new 0 days R5 F1; loyal 1 day R5 F2; gone 537 days R1 F1.
    # M quintiles of 20, 600, 50: 20 -> 1, 50 -> 1 + 5//3 = 2, 600 -> 1 + 10//3 = 4.
    result = score(metrics, RfmSettings(scheme="responsys", method="ranges"))
    assert [metrics.customer_ids[i] for i in metrics.customer_index] == ["new", "loyal", "gone"]
    assert metrics.recency_days.tolist() == [0, 1, 537]
    assert result.scores.cells() == ["511", "524", "112"]
    assert result.segment_labels() == ["New", "New", "Lost"]
