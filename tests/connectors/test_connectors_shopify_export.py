"""Shopify's admin "Export orders" CSV, detected from its header.

Hand-worked expectations for tests/fixtures/shopify_orders_export.csv, as of 2026-11-01 in
Europe/Berlin (CEST until 2026-10-25):
- #1001 ada: 55.00 on 10-01 (two line rows, totals on the first). Counted.
- #1002 bob: refunded, Refunded Amount 40.00 of 40.00 -> net 0, not counted.
- #1003 Ada (same email, other case): 100.00 - 25.00 refunded = 75.00, created 10-20 23:30 UTC
  = 10-21 01:30 in Berlin. Its Notes field spans two physical lines (5 and 6).
- #1004 carol: Cancelled at is set -> cancelled. #1007 dan: voided.
- #1005: no email, no phone -> rejected at line 8. #1006: no email, phone -> customer +49301234567.
- #1008 erin: "10/10/2026" is not a Shopify date -> rejected at line 11.
- #1009 bob: 70.00 on 10-30.
Scored: ada F=2 M=130.00 R=11 days; bob F=1 M=70.00 R=2; +49301234567 F=1 M=25.00 R=24.
Quantiles with n=3, L=5: rank 1 -> 1, rank 2 -> 1+floor(5/3)=2, rank 3 -> 1+floor(10/3)=4.
"""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
from rfmsync.connectors.orderfiles.options import ReadOptions
from rfmsync.connectors.orderfiles.orders import read_orders_file
from testkit import FIXTURES, Cli, read_rows

EXPORT = FIXTURES / "shopify_orders_export.csv"


def test_export_is_detected_and_orders_are_netted() -> None:
    read = read_orders_file(EXPORT, None, ReadOptions(tz=ZoneInfo("Europe/Berlin")))
    assert read.file_format == "shopify-export"
    assert read.rows_read == 10
    assert read.orders == 7
    assert [(r.line, r.column) for r in read.rejects] == [(8, "Email"), (11, "Created at")]
    assert "neither an email nor a phone" in read.rejects[0].reason
    assert read.currency == "EUR"
    batch = read.batch
    amounts = {batch.customer_ids[c]: [] for c in batch.customer_codes.tolist()}
    for code, units in zip(batch.customer_codes.tolist(), batch.amount_units.tolist(), strict=True):
        amounts[batch.customer_ids[code]].append(units / 10_000)
    assert amounts == {
        "ada@example.com": [55.0, 75.0],
        "bob@example.com": [0.0, 70.0],
        "carol@example.com": [80.0],
        "+49301234567": [25.0],
        "dan@example.com": [60.0],
    }
    assert int(np.sum(batch.status_codes != 0)) == 4  # refunded, partially refunded, cancelled, voided


def test_score_on_export_end_to_end(cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "segments.csv"
    code, stdout, _ = cli("score", EXPORT, "--as-of", "2026-11-01", "--timezone", "Europe/Berlin", "--out", out)
    assert code == 0
    rows = read_rows(out)
    assert [(r["customer_id"], r["recency_days"], r["frequency"], r["monetary"], r["rfm_cell"], r["rfm_score"],
             r["segment"], r["email"]) for r in rows] == [
        ("+49301234567", "24", "1", "25.00", "111", "1.00", "Lost", ""),
        ("ada@example.com", "11", "2", "130.00", "244", "3.33", "At Risk", "ada@example.com"),
        ("bob@example.com", "2", "1", "70.00", "412", "2.33", "Potential Loyalists", "bob@example.com"),
    ]
    assert "10 rows read (shopify-export), 2 rejected" in stdout
    assert "orders: 7; counted 4; not counted: 2 cancelled/voided/test, 1 with net amount <= 0" in stdout
    rejects = read_rows(tmp_path / "segments.rejects.csv")
    assert [(r["line"], r["column"], r["Name"]) for r in rejects] == [("8", "Email", "#1005"),
                                                                       ("11", "Created at", "#1008")]
