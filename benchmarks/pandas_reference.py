"""The RFM rules of docs/scoring.md written plainly in pandas: the reference the engine benchmark
checks rfmsync against and times it beside.

Deliberately independent of rfmsync (it imports nothing from it), so a shared bug cannot make both
sides agree. Written the way an analyst would: vectorised filters, one groupby, `Series.rank`.
Covers what the benchmark needs: quantile scores, the classic scheme, an optional window, UTC or
any IANA zone. Statuses are rfmsync's canonical words (the generic CSV layout of datagen).

Run as a script it is the pandas side of `rfmsync score`:
    python benchmarks/pandas_reference.py ORDERS.csv --as-of 2026-11-01 --out segments.csv
"""

from __future__ import annotations

import argparse
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

EXCLUDED_STATUSES = ("cancelled", "voided", "test")  # never counted (docs/scoring.md, "counted order")
LEVELS = 5  # the classic scheme is defined on 5 levels

# docs/scoring.md, classic: rows R = 5..1, columns FM = 1..5.
_CLASSIC_ROWS = {
    5: ("New Customers", "Potential Loyalists", "Potential Loyalists", "Champions", "Champions"),
    4: ("Promising", "Potential Loyalists", "Potential Loyalists", "Loyal Customers", "Champions"),
    3: ("About to Sleep", "About to Sleep", "Need Attention", "Loyal Customers", "Loyal Customers"),
    2: ("Hibernating", "Hibernating", "At Risk", "At Risk", "Can't Lose Them"),
    1: ("Lost", "Lost", "Hibernating", "At Risk", "Can't Lose Them"),
}
# Keyed by R * 10 + FM so one Series.map assigns every customer.
CLASSIC_SEGMENTS = {r * 10 + fm: name for r, row in _CLASSIC_ROWS.items() for fm, name in enumerate(row, 1)}

OUTPUT_COLUMNS = ["customer_id", "recency_days", "frequency", "monetary", "r_score", "f_score", "m_score",
                  "rfm_cell", "rfm_score", "segment"]


def quantile_score(values: pd.Series, levels: int, *, ascending: bool = True) -> pd.Series:
    """`1 + floor(L * (rank - 1) / n)`; rank counts from the worst value, ties share the lowest rank.

    `ascending=False` when a larger value is worse (recency: most days first).
    """
    rank = values.rank(method="min", ascending=ascending).astype("int64")
    return 1 + (levels * (rank - 1)) // len(values)


def rfm_segments(orders: pd.DataFrame, as_of: date, *, tz: str = "UTC",
                 window_days: int | None = None) -> pd.DataFrame:
    """One row per scored customer, indexed by customer_id (sorted).

    `orders` columns: customer_id, created_at (tz-aware timestamps), cents (net amount in integer
    cents, so equal spends tie exactly), status. Columns out: recency_days, frequency,
    monetary_cents, r_score, f_score, m_score, segment.
    """
    # A local calendar date d <= as_of is a timestamp before the next local midnight; comparing
    # timestamps avoids converting every one of millions of orders to a local date.
    end = pd.Timestamp(as_of + timedelta(days=1)).tz_localize(tz)
    keep = ~orders["status"].isin(EXCLUDED_STATUSES) & (orders["cents"] > 0) & (orders["created_at"] < end)
    if window_days is not None:
        start = pd.Timestamp(as_of - timedelta(days=window_days - 1)).tz_localize(tz)
        keep &= orders["created_at"] >= start
    counted = orders[keep]
    customers = counted.groupby("customer_id").agg(
        last_order=("created_at", "max"),
        frequency=("created_at", "size"),
        monetary_cents=("cents", "sum"),
    )
    # The last order's local date; naive wall-clock time so DST days still count as one day.
    last_day = customers["last_order"].dt.tz_convert(tz).dt.tz_localize(None).dt.floor("D")
    customers["recency_days"] = (pd.Timestamp(as_of) - last_day).dt.days
    customers["r_score"] = quantile_score(customers["recency_days"], LEVELS, ascending=False)
    customers["f_score"] = quantile_score(customers["frequency"], LEVELS)
    customers["m_score"] = quantile_score(customers["monetary_cents"], LEVELS)
    fm = (customers["f_score"] + customers["m_score"] + 1) // 2
    customers["segment"] = (customers["r_score"] * 10 + fm).map(CLASSIC_SEGMENTS)
    return customers.drop(columns="last_order")


def read_orders_csv(path: Path) -> pd.DataFrame:
    """The generic layout (order_id, customer_id, email, created_at, total, currency, status).

    Reads only the columns the rules use; dates carry a "Z", so they parse as UTC.
    """
    frame = pd.read_csv(path, usecols=["customer_id", "created_at", "total", "status"],
                        dtype={"customer_id": "int64", "total": "float64", "status": "category"})
    frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True, format="ISO8601")
    frame["cents"] = (frame["total"] * 100).round().astype("int64")
    return frame


def write_segments(customers: pd.DataFrame, out: Path) -> None:
    """rfmsync's output columns, sorted by customer id (numerically: the ids are integers here)."""
    table = customers.reset_index()
    table["monetary"] = table["monetary_cents"] / 100
    table["rfm_cell"] = table["r_score"] * 100 + table["f_score"] * 10 + table["m_score"]
    table["rfm_score"] = (table["r_score"] + table["f_score"] + table["m_score"]) / 3
    table[OUTPUT_COLUMNS].to_csv(out, index=False, float_format="%.2f")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Classic RFM segments of an orders CSV, in plain pandas.")
    parser.add_argument("orders_file", type=Path)
    parser.add_argument("--as-of", required=True, type=date.fromisoformat, metavar="YYYY-MM-DD")
    parser.add_argument("--timezone", default="UTC")
    parser.add_argument("--window-days", type=int)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args(argv)
    customers = rfm_segments(read_orders_csv(args.orders_file), args.as_of, tz=args.timezone,
                             window_days=args.window_days)
    write_segments(customers, args.out)
    print(f"wrote {len(customers):,} customers to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
