"""Order files in the dialects shops export: delimiters, encodings, decimal marks, currency signs, dates."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from rfmsync.connectors.orderfiles.options import ReadOptions
from rfmsync.connectors.orderfiles.orders import read_orders_file
from rfmsync.core.errors import InputError
from testkit import SHARED_DATA, Cli, read_rows

UTC = ZoneInfo("UTC")


def read(tmp_path: Path, content: bytes | str, name: str = "orders.csv", **options: str) -> tuple[
        dict[str, int], list[tuple[int, str | None, str]], list[str]]:
    """(customer -> total units, rejects as (line, column, reason), warnings)."""
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    result = read_orders_file(path, None, ReadOptions(tz=UTC, **options))  # type: ignore[arg-type]
    totals: dict[str, int] = {}
    for code, units in zip(result.batch.customer_codes.tolist(), result.batch.amount_units.tolist(), strict=True):
        key = result.batch.customer_ids[code]
        totals[key] = totals.get(key, 0) + units
    return totals, [(r.line, r.column, r.reason) for r in result.rejects], list(result.warnings)


@pytest.mark.parametrize("sep", [",", ";", "\t", "|"])
def test_each_delimiter_is_detected(tmp_path: Path, sep: str) -> None:
    text = sep.join(["order_id", "customer_id", "created_at", "total"]) + "\n"
    text += sep.join(["A", "1", "2026-10-01", "10.50"]) + "\n" + sep.join(["B", "2", "2026-10-02", "3"]) + "\n"
    assert read(tmp_path, text)[0] == {"1": 105_000, "2": 30_000}


def test_semicolons_with_decimal_commas_and_thousands_points(tmp_path: Path) -> None:
    text = "order_id;customer_id;created_at;total\nA;1;2026-10-01;12,50\nB;2;2026-10-02;1.234,50\nC;3;2026-10-03;7\n"
    assert read(tmp_path, text)[0] == {"1": 125_000, "2": 12_345_000, "3": 70_000}


def test_currency_signs_and_codes_around_numbers(tmp_path: Path) -> None:
    text = ("order_id,customer_id,created_at,total\nA,1,2026-10-01,\"€12,50\"\nB,2,2026-10-02,\"1.234,50 EUR\"\n"
            "C,3,2026-10-03,\"-€2,00\"\n")
    assert read(tmp_path, text)[0] == {"1": 125_000, "2": 12_345_000, "3": -20_000}
    text = "order_id,customer_id,created_at,total\nA,1,2026-10-01,\"$1,200\"\nB,2,2026-10-02,12.50 USD\n" \
           "C,3,2026-10-03,\"1,234.50\"\n"
    assert read(tmp_path, text)[0] == {"1": 12_000_000, "2": 125_000, "3": 12_345_000}


def test_an_ambiguous_thousands_column_asks_for_decimal(tmp_path: Path) -> None:
    text = "order_id,customer_id,created_at,total\nA,1,2026-10-01,\"1,234\"\nB,2,2026-10-02,\"2,500\"\n"
    with pytest.raises(InputError, match=r"orders.csv: column 'total': .*--decimal"):
        read(tmp_path, text)
    assert read(tmp_path, text, decimal=",")[0] == {"1": 12_340, "2": 25_000}
    assert read(tmp_path, text, decimal=".")[0] == {"1": 12_340_000, "2": 25_000_000}


def test_a_cell_in_the_other_decimal_convention_is_a_rejected_row(tmp_path: Path) -> None:
    text = "order_id;customer_id;created_at;total\nA;1;2026-10-01;12,50\nB;2;2026-10-02;3,10\nC;3;2026-10-03;4.5\n"
    totals, rejects, _ = read(tmp_path, text)
    assert totals == {"1": 125_000, "2": 31_000}
    assert [(line, column) for line, column, _ in rejects] == [(4, "total")]


def test_day_first_and_month_first_are_decided_from_the_whole_column(tmp_path: Path) -> None:
    header = "order_id,customer_id,created_at,total\n"
    day_first = header + "A,1,03/04/2025,1\nB,2,25/04/2025 14:05,1\n"
    month_first = header + "A,1,03/04/2025,1\nB,2,04/25/2025 2:05 PM,1\n"
    for text, april_3rd in ((day_first, True), (month_first, False)):
        path = tmp_path / "dates.csv"
        path.write_text(text)
        batch = read_orders_file(path, None, ReadOptions(tz=UTC)).batch
        first = batch.created_utc[0]
        assert first == (1743638400 if april_3rd else 1741046400)  # 2025-04-03 / 2025-03-04 00:00 UTC
        assert read_orders_file(path, None, ReadOptions(tz=UTC)).batch.created_utc[1] == 1745589900  # 14:05
    german = header + "A,1,31.12.2025,1\nB,2,01.02.2026 09:30,1\n"
    path.write_text(german)
    assert read_orders_file(path, None, ReadOptions(tz=UTC)).batch.created_utc.tolist() == [1767139200, 1769938200]


def test_undecidable_dates_ask_for_a_date_format(tmp_path: Path) -> None:
    text = "order_id,customer_id,created_at,total\nA,1,03/04/2025,1\nB,2,05/06/2025,1\n"
    with pytest.raises(InputError, match=r"column 'created_at': .*--date-format"):
        read(tmp_path, text)
    assert read(tmp_path, text, date_format="%d/%m/%Y")[0] == {"1": 10_000, "2": 10_000}


@pytest.mark.parametrize("encoding,bom", [("utf-8", b"\xef\xbb\xbf"), ("utf-8", b""), ("utf-16", b"")])
def test_unicode_encodings(tmp_path: Path, encoding: str, bom: bytes) -> None:
    text = "order_id,customer_id,created_at,total\nA,Jürgen,2026-10-01,1\n"
    totals, _, warnings = read(tmp_path, bom + text.encode(encoding))
    assert totals == {"Jürgen": 10_000} and warnings == []


def test_windows_1252_is_read_with_a_warning_naming_it(tmp_path: Path) -> None:
    text = "order_id;customer_id;created_at;total\nA;Jürgen €;2026-10-01;1,5\n"
    totals, _, warnings = read(tmp_path, text.encode("windows-1252"))
    assert totals == {"Jürgen €": 15_000}
    assert len(warnings) == 1 and "read as windows-1252" in warnings[0]


def test_whitespace_aligned_columns_of_cdnow(tmp_path: Path) -> None:
    text = " customer_id  date number_of_cds  dollar_value\n 00001 19970101  1   11.77\n 00002 19970112  5   77.00\n"
    path = tmp_path / "cdnow.txt"
    path.write_text(text)
    from rfmsync.connectors.orderfiles.orders import parse_column_map
    read_result = read_orders_file(path, parse_column_map("customer=customer_id,date=date,amount=dollar_value"),
                                   ReadOptions(tz=UTC))
    assert read_result.batch.customer_ids == ["00001", "00002"]
    assert read_result.batch.created_utc.tolist() == [852076800, 853027200]
    assert read_result.batch.amount_units.tolist() == [117_700, 770_000]


def test_the_whole_cdnow_master_file(tmp_path: Path, cli: Cli) -> None:
    path = SHARED_DATA / "cdnow" / "CDNOW_master.txt"
    if not path.exists():
        pytest.skip("../shared/data/cdnow is not beside the project")
    code, out, err = cli("score", path, "--map", "customer=customer_id,date=date,amount=dollar_value",
                         "--as-of", "1998-07-01", "--out", tmp_path / "seg.csv")
    assert code == 0, err
    # 23,570 customers; 68 of them bought only for $0, which is not a counted order.
    assert "customers scored: 23,502" in out
    rejects = tmp_path / "seg.rejects.csv"
    # 80 CDNOW purchases have a dollar value of 0: read fine, not counted; nothing is rejected.
    assert not rejects.exists()


def test_odd_date_among_utc_timestamps_does_not_crash_under_warnings_as_errors(tmp_path: Path) -> None:
    # It used to kill the interpreter (SIGSEGV) from about 600 rows of a quote-free file.
    lines = ["order_id,customer_id,created_at,total"]
    lines += [f"{i},{i % 300},2026-0{1 + i % 9}-1{i % 10}T10:00:00Z,{i % 50}.25" for i in range(2500)]
    lines[1500] = "1499,7,31/12/2025,3.25"
    path = tmp_path / "orders.csv"
    path.write_text("\n".join(lines) + "\n")
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    done = subprocess.run([sys.executable, "-W", "error", "-m", "rfmsync.sync.cli", "score", str(path),
                           "--as-of", "2026-11-01", "--out", str(tmp_path / "seg.csv")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "orders.csv: 2,500 rows read (csv), 0 rejected" in done.stdout  # the odd cell read day-first
    customers = read_rows(tmp_path / "seg.csv")
    assert len(customers) == 300


def test_a_file_without_a_header_is_refused_without_showing_a_cell(tmp_path: Path, cli: Cli) -> None:
    path = tmp_path / "noheader.csv"
    path.write_text("1001,ada@example.com,2026-10-01,10.50\n1002,bob@example.com,2026-10-02,3\n")
    code, _, err = cli("score", path, "--out", tmp_path / "seg.csv")
    assert code == 2
    assert "4 columns" in err and "header" in err and "@" not in err and "10.50" not in err


def test_truncated_gzip_unreadable_input_and_unwritable_output_exit_2(tmp_path: Path, cli: Cli) -> None:
    body = "order_id,customer_id,created_at,total\n" + "".join(f"{i},{i},2026-10-01,1\n" for i in range(5000))
    whole = gzip.compress(body.encode())
    (tmp_path / "cut.csv.gz").write_bytes(whole[: len(whole) // 2])
    code, _, err = cli("score", tmp_path / "cut.csv.gz", "--out", tmp_path / "seg.csv")
    assert code == 2 and "truncated or corrupt" in err and "Traceback" not in err
    code, _, err = cli("score", tmp_path, "--out", tmp_path / "seg.csv")
    assert code == 2 and "is a folder" in err
    good = tmp_path / "good.csv"
    good.write_text(body)
    code, _, err = cli("score", good, "--out", good / "seg.csv")  # under a file: no folder can be made
    assert code == 2 and "cannot write" in err and "seg.csv" in err


def test_absurd_amounts_are_rejected_rows_and_no_numpy_warning_escapes(tmp_path: Path,
                                                                     capfd: pytest.CaptureFixture[str]) -> None:
    text = ("order_id,customer_id,created_at,total\nA,1,2026-10-01,1e308\nB,2,2026-10-01,1234567890123\n"
            "C,3,2026-10-01,12.5\nD,4,2026-10-01,inf\n")
    totals, rejects, _ = read(tmp_path, text)
    assert totals == {"3": 125_000}
    assert [(line, column) for line, column, _ in rejects] == [(2, "total"), (3, "total"), (5, "total")]
    assert "out of range" in rejects[0][2] and "out of range" in rejects[1][2]
    assert "Warning" not in capfd.readouterr().err


def test_line_numbers_of_rejects_in_a_quoted_file_with_blank_lines(tmp_path: Path) -> None:
    text = ('order_id,customer_id,created_at,total\n"A","1","2026-10-01","1"\n\n"B","2","2026-10-01",'
            '"x"\n"C","3","2026-10-01","2","extra"\n"D","4","multi\nline","1"\n')
    totals, rejects, _ = read(tmp_path, text)
    assert totals == {"1": 10_000}
    assert [(line, column) for line, column, _ in rejects] == [(4, "total"), (5, None), (7, "created_at")]
