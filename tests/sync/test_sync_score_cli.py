"""`rfmsync score` on generic CSV files: mapping, line-level files, bad input and the rejects file."""

from __future__ import annotations

from pathlib import Path

import pytest
from rfmsync.sync.output import OUTPUT_COLUMNS
from testkit import Cli, read_rows


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# As of 2026-11-01 (UTC): customer 10 orders twice (2026-10-31, 2026-09-01), customer 2 once
# (2026-06-01), customer 7 once cancelled (2026-10-01) and once counted (2025-11-01).
ORDERS = """order_id,customer_id,created_at,total,status
A1,10,2026-10-31 10:00:00,20.00,paid
A2,10,2026-09-01 09:00:00,30.50,paid
A3,2,2026-06-01 12:00:00,200.00,completed
A4,7,2026-10-01 08:00:00,100.00,cancelled
A5,7,2025-11-01 08:00:00,5.00,paid
"""


def test_auto_detected_columns_and_exact_output(cli: Cli, tmp_path: Path) -> None:
    orders = write(tmp_path / "orders.csv", ORDERS)
    out = tmp_path / "seg.csv"
    code, stdout, stderr = cli("score", orders, "--as-of", "2026-11-01", "--levels", "5", "--out", out)
    assert code == 0, stderr
    rows = read_rows(out)
    assert list(rows[0]) == list(OUTPUT_COLUMNS)
    # Sorted numerically: 2, 7, 10. R days: 2 -> 153, 7 -> 365, 10 -> 1.
    # Quantiles n=3, L=5: ranks 1, 2, 3 -> scores 1, 2, 4; F ties (1, 1, 2) -> 1, 1, 4.
    assert [(r["customer_id"], r["recency_days"], r["frequency"], r["monetary"], r["rfm_cell"], r["segment"])
            for r in rows] == [
        ("2", "153", "1", "200.00", "214", "At Risk"),  # FM = (1+4+1)//2 = 3 -> R2 FM3
        ("7", "365", "1", "5.00", "111", "Lost"),
        ("10", "1", "2", "50.50", "442", "Potential Loyalists"),  # FM = (4+2+1)//2 = 3 -> R4 FM3
    ]
    assert rows[0]["rfm_score"] == "2.33" and rows[2]["rfm_score"] == "3.33"
    assert "orders: 5; counted 4; not counted: 1 cancelled/voided/test" in stdout


def test_line_level_file_sums_rows_per_order(cli: Cli, tmp_path: Path) -> None:
    lines = write(tmp_path / "lines.csv", (
        "InvoiceNo,Qty,Price,When,Cust\n"
        "1,2,2.55,2011-12-01 10:00,9\n"
        "1,1,10.10,2011-12-01 10:00,9\n"
        "2,3,1.00,2011-12-05 10:00,9\n"
        "C3,-1,10.10,2011-12-06 10:00,9\n"
    ))
    out = tmp_path / "seg.csv"
    code, stdout, _ = cli("score", lines, "--map", "customer=Cust,date=When,amount=Qty*Price,order=InvoiceNo",
                          "--as-of", "2011-12-10", "--out", out)
    assert code == 0
    (row,) = read_rows(out)
    # Invoice 1: 2*2.55 + 10.10 = 15.20; invoice 2: 3.00; C3 is a return: not an order, 10.10 less.
    assert (row["frequency"], row["monetary"], row["recency_days"]) == ("2", "8.10", "5")
    assert "orders: 3; counted 2; not counted: 0 cancelled/voided/test, 1 with net amount <= 0" in stdout


BAD = """order_id,customer_id,created_at,total
B1,1,2026-10-01,10.00
B2,,2026-10-02,10.00
B3,3,yesterday,10.00
B4,4,2026-10-04,"12,50"
B5,5,2026-10-05
B6,6,2026-10-06,"7.00"
"""


def test_bad_rows_are_rejected_named_and_kept(cli: Cli, tmp_path: Path) -> None:
    orders = write(tmp_path / "orders.csv", BAD)
    out = tmp_path / "seg.csv"
    code, stdout, _ = cli("score", orders, "--as-of", "2026-11-01", "--out", out)
    assert code == 0
    assert [r["customer_id"] for r in read_rows(out)] == ["1", "6"]
    rejects = read_rows(tmp_path / "seg.rejects.csv")
    assert [(r["line"], r["column"], r["reason"].split(";")[0].split(" (")[0]) for r in rejects] == [
        ("3", "customer_id", "missing customer id"),
        ("4", "created_at", "unreadable date"),
        ("5", "total", "amount is not a number"),
        ("6", "", "expected 4 fields as in the header, found 3"),
    ]
    # The rejected row is kept as it was, to be fixed and fed again.
    assert (rejects[2]["order_id"], rejects[2]["total"]) == ("B4", "12,50")
    assert "6 rows read (csv), 4 rejected" in stdout
    assert "1 x created_at: unreadable date" in stdout and "(first at line 4)" in stdout


def test_rejects_summary_never_prints_cell_values(cli: Cli, tmp_path: Path) -> None:
    orders = write(tmp_path / "orders.csv", "customer_id,created_at,total,email\n"
                                             "1,2026-10-01,abc,secret.person@example.com\n"
                                             "2,2026-10-01,5.00,other@example.com\n")
    code, stdout, stderr = cli("score", orders, "--as-of", "2026-11-01", "--out", tmp_path / "seg.csv")
    assert code == 0
    assert "example.com" not in stdout + stderr
    assert "abc" not in stdout + stderr


@pytest.mark.parametrize(("text", "message"), [
    ("", "the file is empty"),
    ("customer_id,created_at,total,total\n1,2026-10-01,1,1\n",
     "line 1 names column 'total' twice (columns 3 and 4)"),
    ("customer_id,created_at,amount\n,2026-10-01,1\n,2026-10-02,2\n", "no row could be read"),
    ("who,when,what\n1,2026-10-01,1\n", "cannot tell which column holds customer and date and amount"),
])
def test_unreadable_files_exit_2_naming_the_file(cli: Cli, tmp_path: Path, text: str, message: str) -> None:
    orders = write(tmp_path / "orders.csv", text)
    code, _stdout, stderr = cli("score", orders, "--as-of", "2026-11-01", "--out", tmp_path / "seg.csv")
    assert code == 2
    assert str(orders) in stderr and message in stderr
    assert not (tmp_path / "seg.csv").exists()


def test_missing_file_and_bad_options_exit_2(cli: Cli, tmp_path: Path) -> None:
    code, _, stderr = cli("score", tmp_path / "nope.csv", "--out", tmp_path / "seg.csv")
    assert code == 2 and "nope.csv: cannot open" in stderr
    orders = write(tmp_path / "orders.csv", ORDERS)
    for args, message in [
        (("--as-of", "01/11/2026"), "--as-of: expected a date YYYY-MM-DD"),
        (("--timezone", "Mars/Olympus"), "--timezone: unknown time zone"),
        (("--weights", "0.5,0.5,0.5"), "--weights: weights must sum to 1"),
        (("--scheme", "responsys", "--levels", "3"), "scheme 'responsys' is defined on 5 levels"),
        (("--scheme", "quick-audience", "--levels", "4"), "no built-in range set for 4 levels"),
        (("--map", "customer=customer_id,date=nope,amount=total"), "--map date=nope: no such column"),
    ]:
        code, _, stderr = cli("score", orders, "--out", tmp_path / "seg.csv", *args)
        assert code == 2, args
        assert message in stderr, (args, stderr)


def test_stdout_output_and_summary_on_stderr(cli: Cli, tmp_path: Path) -> None:
    orders = write(tmp_path / "orders.csv", ORDERS)
    code, stdout, stderr = cli("score", orders, "--as-of", "2026-11-01", "--out", "-")
    assert code == 0
    assert stdout.splitlines()[0] == ",".join(OUTPUT_COLUMNS)
    assert len(stdout.splitlines()) == 4
    assert "customers scored: 3" in stderr


def test_timezone_moves_orders_across_midnight(cli: Cli, tmp_path: Path) -> None:
    # 2026-10-31T23:30Z is 2026-11-01 00:30 in Berlin (CET, +01:00) but still 10-31 in New York.
    orders = write(tmp_path / "orders.csv", "customer_id,created_at,total\n1,2026-10-31T23:30:00Z,10\n"
                                            "2,2026-10-31 23:30:00,10\n")
    for tz, expected in [("Europe/Berlin", {"1": "0", "2": "1"}), ("America/New_York", {"1": "1", "2": "1"})]:
        out = tmp_path / f"{tz.replace('/', '_')}.csv"
        code, _, _ = cli("score", orders, "--as-of", "2026-11-01", "--timezone", tz, "--out", out)
        assert code == 0
        # Customer 2's time has no offset: it is a local wall-clock time, so its date never moves.
        assert {r["customer_id"]: r["recency_days"] for r in read_rows(out)} == expected


def test_other_currencies_need_a_rate(cli: Cli, tmp_path: Path) -> None:
    orders = write(tmp_path / "orders.csv", "customer_id,created_at,total,currency\n"
                                            "1,2026-10-01,10.00,EUR\n2,2026-10-01,10.00,USD\n"
                                            "3,2026-10-01,20.00,EUR\n")
    out = tmp_path / "seg.csv"
    code, _stdout, _ = cli("score", orders, "--as-of", "2026-11-01", "--out", out)
    assert code == 0 and [r["customer_id"] for r in read_rows(out)] == ["1", "3"]
    assert "no exchange rate is set" in read_rows(tmp_path / "seg.rejects.csv")[0]["reason"]
    code, _, _ = cli("score", orders, "--as-of", "2026-11-01", "--rate", "USD=0.5", "--out", out)
    assert {r["customer_id"]: r["monetary"] for r in read_rows(out)} == {"1": "10.00", "2": "5.00", "3": "20.00"}


def test_customer_summary_input(cli: Cli, tmp_path: Path) -> None:
    summary = write(tmp_path / "summary.csv", "id,last,n,spend\na,2026-10-31,3,300\nb,2026-01-01,1,20\n"
                                              "c,2026-10-01,0,0\nd,not a date,2,10\n")
    out = tmp_path / "seg.csv"
    code, _, _ = cli("score", summary, "--map", "customer=id,last_order=last,frequency=n,monetary=spend",
                     "--as-of", "2026-11-01", "--scheme", "quick-audience", "--out", out)
    assert code == 0
    rows = read_rows(out)
    # c has no orders so is not scored. Quick-audience ranges: a R1d->3 F3->2 M300->2; b R304d->1 F1->1 M20->1.
    # Mean scores R 2, F 1.5, M 1.5: a is high on all three, b low on all three.
    assert [(r["customer_id"], r["rfm_cell"], r["segment"]) for r in rows] == [
        ("a", "322", "High Value"), ("b", "111", "Potential")]
    assert read_rows(tmp_path / "seg.rejects.csv")[0]["line"] == "5"


def test_custom_segments_file(cli: Cli, tmp_path: Path) -> None:
    orders = write(tmp_path / "orders.csv", ORDERS)
    segments = write(tmp_path / "seg.toml", '[segments]\n[[segments.rules]]\nname = "Recent"\nr = [4, 5]\n')
    out = tmp_path / "seg.csv"
    code, _, stderr = cli("score", orders, "--as-of", "2026-11-01", "--segments", segments, "--out", out)
    assert code == 0
    assert "75 cells reach no rule" in stderr  # r in 1..3: 3 x 25 cells
    assert {r["customer_id"]: r["segment"] for r in read_rows(out)} == {"2": "", "7": "", "10": "Recent"}
    bad = write(tmp_path / "bad.toml", '[segments]\n[[segments.rules]]\nname = "X"\nr = [4, 9]\n')
    code, _, stderr = cli("score", orders, "--segments", bad, "--out", out)
    assert code == 2 and "segments.rules[0].r: expected 1 <= low <= high <= 5" in stderr


def test_demo_runs_and_is_deterministic(cli: Cli, tmp_path: Path) -> None:
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    assert cli("score", "--demo", "--out", first)[0] == 0
    assert cli("score", "--demo", "--out", second)[0] == 0
    assert first.read_bytes() == second.read_bytes()
    assert len(read_rows(first)) > 1000
