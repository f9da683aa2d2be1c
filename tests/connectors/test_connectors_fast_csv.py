"""The fast CSV path (bytes split with NumPy, `connectors/_fastcsv.py`) gives exactly what the csv-module
path gives: the same batch, customer order, rejects (line, column, reason, raw row), counts, emails,
order ids and order emails, on clean files, bad cells of every kind, CRLF, BOM, blank lines, line-level
files, Shopify exports, non-ASCII text and random files. Each test also checks which path was taken.
"""

from __future__ import annotations

import gzip
import random
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from rfmsync.connectors import _bytecol, _fastcsv
from rfmsync.connectors._bytecol import PAD, ByteColumn, ByteStrings
from rfmsync.connectors._columns import StrColumn
from rfmsync.connectors._textparse import parse_numbers, parse_timestamps
from rfmsync.connectors.csv_orders import parse_column_map, read_orders_file, read_summary_file
from rfmsync.connectors.order_lines import OrdersRead
from rfmsync.connectors.read_options import ReadOptions
from rfmsync.core.errors import InputError
from rfmsync.sync.output import write_columns, write_csv
from testkit import FIXTURES, Cli

UTC = ZoneInfo("UTC")


def read_slow(monkeypatch: pytest.MonkeyPatch, path: Path, mapping: str | None, options: ReadOptions) -> OrdersRead:
    with monkeypatch.context() as m:
        m.setattr(_fastcsv, "read_fast_table", lambda p: _fastcsv.Unsuitable("forced by the test"))
        return read_orders_file(path, parse_column_map(mapping) if mapping else None, options)


def summary(read: OrdersRead) -> dict[str, object]:
    b = read.batch
    return {
        "ids": list(b.customer_ids), "codes": b.customer_codes.tolist(), "created": b.created_utc.tolist(),
        "units": b.amount_units.tolist(), "status": b.status_codes.tolist(),
        "dtypes": [a.dtype for a in (b.customer_codes, b.created_utc, b.amount_units, b.status_codes)],
        "rejects": [(r.line, r.column, r.reason, list(r.raw)) for r in read.rejects],
        "rows_read": read.rows_read, "orders": read.orders, "currency": read.currency, "emails": read.emails,
        "email_order": list(read.emails), "format": read.file_format, "header": read.header,
        "order_ids": None if read.order_ids is None else list(read.order_ids),
        "order_emails": None if read.order_emails is None else list(read.order_emails),
    }


def check_same(monkeypatch: pytest.MonkeyPatch, path: Path, mapping: str | None = None, *, fast: bool = True,
               tz: str = "UTC", **options: object) -> OrdersRead:
    """Reads `path` both ways, asserts equal results and that the fast path was (not) taken."""
    opts = ReadOptions(tz=ZoneInfo(tz), **options)  # type: ignore[arg-type]
    before = _fastcsv.STATS.fast
    got = read_orders_file(path, parse_column_map(mapping) if mapping else None, opts)
    assert (_fastcsv.STATS.fast == before + 1) == fast, _fastcsv.STATS.last_slow_reason
    assert summary(got) == summary(read_slow(monkeypatch, path, mapping, opts))
    return got


def write(path: Path, text: str, newline: str = "\n", prefix: bytes = b"") -> Path:
    path.write_bytes(prefix + text.replace("\n", newline).encode("utf-8"))
    return path


CLEAN = """order_id,customer_id,email,created_at,total,currency,status
100001,128,customer128@example.com,2024-11-01T04:14:14Z,89.17,EUR,paid
100002,118,customer118@example.com,2024-11-01T06:18:14Z,53.04,EUR,paid
100003,128,customer128@example.com,2024-11-02T06:18:14Z,0.00,EUR,refunded
100004,7,,2024-11-03T00:00:00Z,12.5,EUR,cancelled
100005,9,nine@example.com,2024-11-04T23:59:59Z,1234567.89,EUR,partially_refunded
"""

BAD = """order_id,customer_id,email,created_at,total,currency,status,note
A1,10,a@x.com,2026-10-01 10:00:00,20.00,EUR,paid,x
A2,,b@x.com,2026-10-02 10:00:00,20.00,EUR,paid,blank customer
A3, 11 ,c@x.com,yesterday,20.00,EUR,paid,bad date
A4,12,d@x.com,2026-02-30 10:00:00,20.00,EUR,paid,no such day
A5,13, e@x.com ,2026-10-03 10:00:00,$3,EUR,paid,amount sign
A6,14,,2026-10-03 10:00:00,abc,EUR,paid,amount text
A7,15,f@x.com,2026-10-03 10:00:00,,EUR,paid,blank amount
A8,16,g@x.com,2026-10-03 10:00:00,nan,EUR,paid,nan
A9,17,h@x.com,2026-10-03 10:00:00,5.5,EUR,lost in the post,unknown status
A10,18,i@x.com,2026-10-03 10:00:00,5.5,USD,paid,other currency
A11,19,j@x.com,2026-10-03 10:00:00, 7.25 ,eur, PAID ,padded
,20,k@x.com,2026-10-03 10:00:00,1,EUR,paid,blank order
A12,10,,2026-10-04 10:00:00,-0,EUR,open,minus zero
A13,10,a2@x.com,2026-10-05 10:00:00,+1e3,,completed,exponent
A14,21,l@x.com,2026-10-06 10:00:00,.5,GBP,paid,gbp
A15,21,m@x.com,2026-10-06 10:00:00,5.,GBP,paid,gbp
"""


def test_clean_file_takes_the_fast_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    read = check_same(monkeypatch, write(tmp_path / "clean.csv", CLEAN))
    assert read.orders == 5 and not read.rejects and read.currency == "EUR"
    assert read.emails == {"128": "customer128@example.com", "118": "customer118@example.com", "9": "nine@example.com"}
    assert isinstance(read.order_ids, ByteStrings) and list(read.order_ids)[:2] == ["100001", "100002"]


@pytest.mark.parametrize("options", [{}, {"rates": {"USD": 0.5}}, {"currency": "usd", "rates": {"EUR": 2.0}},
                                     {"currency": "GBP"}])
def test_bad_cells_of_every_kind(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, options: dict[str, object]) -> None:
    read = check_same(monkeypatch, write(tmp_path / "bad.csv", BAD), **options)
    assert {r.column for r in read.rejects} >= {"customer_id", "created_at", "total", "status"}
    if not options:  # customer 10's emails: a@x.com, blank, then a2@x.com: the last non-blank one
        assert (read.emails["10"], read.emails["19"], read.currency) == ("a2@x.com", "j@x.com", "EUR")
        assert [(r.line, r.column) for r in read.rejects[:3]] == [(3, "customer_id"), (4, "created_at"),
                                                                   (5, "created_at")]


@pytest.mark.parametrize(("newline", "prefix", "tail"), [
    ("\r\n", b"", ""), ("\n", b"\xef\xbb\xbf", ""), ("\n", b"", "\n"), ("\n", b"", "\n\n  \n"),
    ("\r\n", b"\xef\xbb\xbf", "\n \t\n"), ("\n", b"", "NO_NEWLINE"),
])
def test_line_ends_bom_and_blank_lines(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, newline: str, prefix: bytes,
                                       tail: str) -> None:
    text = BAD.replace("A5,", "\n\nA5,") + tail  # blank lines in the middle shift line numbers
    if tail == "NO_NEWLINE":
        text = BAD.rstrip("\n")
    read = check_same(monkeypatch, write(tmp_path / "f.csv", text, newline, prefix))
    assert read.rejects[0].line == 3


@pytest.mark.parametrize("text", [
    BAD.replace("A4,12,", 'A4,"12",'),  # a quoted field
    BAD.replace("A6,14,,", "A6,14,"),  # a short row
    BAD.replace("A6,14,,", "A6,14,,,"),  # a long row
    BAD.replace("\nA5,", "\n\u00a0\nA5,"),  # a line of only a no-break space (blank to str.strip)
    BAD.replace("A3,", "A3\r,"),  # a carriage return inside a line
])
def test_quotes_and_ragged_rows_take_the_slow_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, text: str) -> None:
    check_same(monkeypatch, write(tmp_path / "odd.csv", text), fast=False)
    assert _fastcsv.STATS.last_slow_reason


LINES = """InvoiceNo,StockCode,Qty,Price,When,Cust,Country
1,A,2,2.55,2011-12-01 10:00,9,UK
1,B,1,10.10,2011-12-01 10:00,9,UK
2,C,3,1.00,2011-12-05 10:00,9,UK
C3,D,-1,10.10,2011-12-06 10:00,9,UK
4,E,1,x,2011-12-06 10:00,8,UK
4,F,2,0.3333333333333333,2011-12-06 10:00,8,UK
5,G,1,1,2011-12-07 10:00,,UK
1,H,1,1,2011-12-08 10:00,7,UK
6,I,12345678901,0.01,2011-12-08 11:00,7,FR
"""


@pytest.mark.parametrize("mapping", [
    "customer=Cust,date=When,amount=Qty*Price,order=InvoiceNo",
    "customer=Cust,date=When,amount=Price,order=StockCode",
    "customer=Country,date=When,amount=Qty",
])
def test_line_level_files_and_products(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, mapping: str) -> None:
    check_same(monkeypatch, write(tmp_path / "lines.csv", LINES), mapping, tz="Europe/Berlin")


def test_shopify_export(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fixture = (FIXTURES / "shopify_orders_export.csv").read_text(encoding="utf-8")
    check_same(monkeypatch, FIXTURES / "shopify_orders_export.csv", fast=False, tz="Europe/Berlin")  # quoted note
    unquoted = fixture.replace('"Gift wrap,\nplease"', "Gift wrap please")
    read = check_same(monkeypatch, write(tmp_path / "export.csv", unquoted), tz="Europe/Berlin")
    assert read.file_format == "shopify-export" and [r.line for r in read.rejects] == [7, 10]


def test_non_ascii_text(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    text = ("customer_id,created_at,total,status,email,name\n"
            "Zoë,2026-10-01,1,paid,zoë@x.de,Zoë Ü\n"
            "\u00a0 7\u3000,2026-10-02,2,paid,\u00a0,Seven\n"
            "7,2026-10-03,3,Paid\u2003,x@y.z,Ünïcödé\n"
            "ß,2026-10-03,4,päid,,x\n")
    read = check_same(monkeypatch, write(tmp_path / "u.csv", text))
    assert read.batch.customer_ids[:2] == ["Zoë", "7"]


def test_gzip_and_time_zones(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "orders.csv.gz"
    path.write_bytes(gzip.compress(BAD.encode()))
    for tz in ("UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"):
        check_same(monkeypatch, path, tz=tz)


@pytest.mark.parametrize("data", [
    BAD.replace("A4,12,", 'A4,"12",').encode(),  # quoted: the csv path reads the decompressed bytes
    b"\xef\xbb\xbf" + BAD.replace("A6,14,,", "A6,14,").encode(),  # BOM and a short row
    BAD.replace("A4,12,", 'A4,"1\xe9",').encode("latin-1"),  # not UTF-8: the error names the same byte
    BAD.replace("A4,12,", 'A4,"Zo\u00eb",').encode(),  # UTF-8, not ASCII
])
def test_gzip_files_taking_the_slow_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "orders.csv.gz"
    path.write_bytes(gzip.compress(data))
    try:
        check_same(monkeypatch, path, fast=False)
    except InputError as fast_error:
        with pytest.raises(InputError) as slow_error:
            read_slow(monkeypatch, path, None, ReadOptions(tz=UTC))
        assert str(fast_error) == str(slow_error.value) and "not UTF-8" in str(fast_error)


@pytest.mark.parametrize("dates", [
    ["2026-10-01", "2026-03-29 02:30", "2026-10-25 02:30:00", "2026-10-31T23:59:59"],
    ["2026-10-01T10:00:00Z", "2026-10-02T10:00:00Z", "2026-10-03Z"],
    ["2026-10-01T10:00:00Z", "2026-10-02 10:00:00"],  # mixed: only some carry a Z
    ["2026-10-01T10:00:00+01:00", "2026-10-02 10:00:00 -0500", "2026-10-03"],
    ["2026-10-01", "NaT", "2026-13-01", "2026-10-01T24:00", "  2026-10-01", "0000-01-01", "20261001"],
    ["01/10/2026 10:00", "31/12/2025 23:59", "2026-10-01"],
])
def test_date_formats(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, dates: list[str]) -> None:
    text = "customer_id,created_at,total\n" + "".join(f"{i},{d},{i}\n" for i, d in enumerate(dates, 1))
    path = write(tmp_path / "dates.csv", text)
    for tz in ("UTC", "Europe/Berlin"):
        check_same(monkeypatch, path, tz=tz)
        check_same(monkeypatch, path, tz=tz, date_format="%d/%m/%Y %H:%M")


def test_summary_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from datetime import date

    path = write(tmp_path / "s.csv", "id,last,n,spend,email\na,2026-10-31,3,300,a@x\nb,2026-01-01,1,20,\n"
                                     "c,2026-10-01,0,0,c@x\nd,not a date,2,10,d@x\n a ,2026-10-30,1,1,dup@x\n"
                                     ",2026-10-01,1,1,\ne,2026-10-01,-1,1,\nf,2026-10-01,1,x,\n")
    colmap = parse_column_map("customer=id,last_order=last,frequency=n,monetary=spend,email=email")
    options = ReadOptions(tz=UTC)
    fast = read_summary_file(path, colmap, options, date(2026, 11, 1))
    with monkeypatch.context() as m:
        m.setattr(_fastcsv, "read_fast_table", lambda p: _fastcsv.Unsuitable("forced"))
        slow = read_summary_file(path, colmap, options, date(2026, 11, 1))
    assert [(r.line, r.column, r.reason, list(r.raw)) for r in fast.rejects] == \
        [(r.line, r.column, r.reason, list(r.raw)) for r in slow.rejects]
    assert (fast.rows_read, fast.emails, fast.header) == (slow.rows_read, slow.emails, slow.header)
    fm, sm = fast.metrics, slow.metrics
    assert fm.customer_ids == sm.customer_ids and fm.customer_index.tolist() == sm.customer_index.tolist()
    assert fm.recency_days.tolist() == sm.recency_days.tolist() and fm.monetary.tolist() == sm.monetary.tolist()


@pytest.mark.parametrize("text", ["", "\n", "a,b,a\n1,2,3\n", "customer_id,created_at,total\n",
                                  "customer_id,,total\n1,2,3\n", "customer_id,created_at\n1,2026-10-01\n"])
def test_unreadable_files_fail_alike(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, text: str) -> None:
    path = write(tmp_path / "x.csv", text)
    outcomes = []
    for force_slow in (False, True):
        with monkeypatch.context() as m:
            if force_slow:
                m.setattr(_fastcsv, "read_fast_table", lambda p: _fastcsv.Unsuitable("forced"))
            try:
                outcomes.append(summary(read_orders_file(path, None, ReadOptions(tz=UTC))))
            except InputError as exc:
                outcomes.append(str(exc))
    assert outcomes[0] == outcomes[1]


POOLS: dict[str, tuple[list[str], list[str]]] = {  # per column: (clean values, messy values)
    "customer": (["1", "2", "10", "7", "123", "98765"],
                 ["1", "007", "7", " 7", "7 ", "", "  ", "\x1f7", "\x0c", "abc", "x" * 20, "12345678901234567",
                  "\t3", "a@b.c"]),
    "date": (["2026-10-01T10:00:00Z", "2025-02-28T23:59:59Z", "2024-02-29T00:00:00Z"],
             ["2026-10-01", "2026-10-01 10:00", "2026-02-30", "yesterday", "", "2026-10-01T10:00:00+01:00"]),
    "amount": (["10", "10.5", "0.99", "1234.56", "-3.25", "0"],
               ["+4", ".5", "5.", "1e3", "abc", "", " 7", "nan", "inf", "1_000", "123456789.123", "-0",
                "0.1234567890123456789", "99999999", "1.2.3", "$3", "12345678.5", "-.5"]),
    "status": (["paid", "cancelled", "refunded", "partially_refunded"],
               ["PAID", " paid", "weird", "", "voided", "on-hold"]),
    "currency": (["EUR"], ["EUR", "eur", " EUR", "USD", "", "GBP"]),
    "order": (["A1", "A2", "A3", "B1", "1", "2"], ["A1", "1", "01", "", "  ", "order-number-long-123456"]),
    "email": (["a@x.com", "b@y.org", ""], ["a@x.com", "", " b@y.com ", "A@X.COM", "   "]),
}


@pytest.mark.parametrize("seed", range(40))
def test_random_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    fields = [f for f in POOLS if f in ("customer", "date", "amount") or rng.random() < 0.7]
    columns = [*fields, "extra"]
    rng.shuffle(columns)
    messy = {f: rng.random() < 0.4 for f in fields}
    lines = [",".join(f"col_{c}" for c in columns)]
    for _ in range(rng.randint(1, 120)):
        lines.append(",".join(rng.choice(POOLS[c][messy[c]]) if c in POOLS else "z" for c in columns))
    path = write(tmp_path / "r.csv", "\n".join(lines) + rng.choice(["\n", "", "\n\n"]), rng.choice(["\n", "\r\n"]))
    mapping = ",".join(f"{f}=col_{f}" for f in fields)
    check_same(monkeypatch, path, mapping, tz=rng.choice(["UTC", "Europe/Berlin"]),
               rates=rng.choice([{}, {"USD": 0.9}]))


def test_big_file_spans_chunks(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    n = 60_000
    customers = rng.integers(1, 5000, n)
    lines = [f"{100000 + i},{c},c{c}@example.com,2026-0{1 + i % 9}-1{i % 10}T10:00:00Z,{c % 97}.{i % 100:02d},"
             "EUR,paid" for i, c in enumerate(customers.tolist())]
    text = "order_id,customer_id,email,created_at,total,currency,status\n" + "\n".join(lines) + "\n"
    check_same(monkeypatch, write(tmp_path / "big.csv", text))
    check_same(monkeypatch, write(tmp_path / "big_blank.csv", text.replace("\n10500", "\n\n10500", 1)))


@pytest.mark.parametrize("last_id", ["x" * 70, "y" * 200, "9" * 40, "é" * 40])
def test_wide_cells(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, last_id: str) -> None:
    wide = "a" * 100
    text = ("customer_id,created_at,total,order_id\n"
            f"{wide},2026-10-01T10:00:00,1,{wide}\n{wide}b,2026-10-01T10:00:00.{'0' * 70},2,o2\n"
            f"{wide},2026-10-02,3.{'5' * 50},o3\n{last_id},2026-10-03,4,{last_id}\n")
    read = check_same(monkeypatch, write(tmp_path / "wide.csv", text))
    assert read.batch.customer_ids[-1] == last_id


def byte_column(values: list[str]) -> ByteColumn:
    """The cells as a file's column: one per line, each between two newlines."""
    data = "\n" + "".join(v + "\n" for v in values)
    after = np.cumsum([len(v.encode()) + 1 for v in values], dtype=np.int64)
    before = np.concatenate([[0], after[:-1]]).astype(np.int64)
    return ByteColumn(np.frombuffer(bytearray(data.encode() + bytes(PAD)), dtype=np.uint8), before, after)


def test_numbers_match_the_reference_parser() -> None:
    rng = random.Random(3)
    alphabet = "0123456789" * 3 + ".-+e x"
    values = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 18))) for _ in range(20_000)]
    values += [f"{rng.uniform(-1e6, 1e6):.{rng.randint(0, 9)}f}" for _ in range(20_000)]
    for chunk in (values, [v for v in values if v.strip()], values[-20_000:]):
        got, bad = byte_column(chunk).numbers()
        want, want_bad = parse_numbers(chunk)
        assert bad.tolist() == want_bad.tolist()
        assert got.tobytes() == want.tobytes()  # bit for bit, signed zeros included
    got, bad = byte_column(values).numbers(blank_is_zero=True)
    want, want_bad = StrColumn(values).numbers(blank_is_zero=True)
    assert got.tobytes() == want.tobytes() and bad.tolist() == want_bad.tolist()


def test_factorize_strip_and_hash_collisions(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(5)
    pool = ["7", "07", "007", "", " ", "\x1f7\x1c", "\x1d\x1e", "a", "ab", "abcdefgh", "abcdefghi", "abcdefghij" * 3,
            "12345678901234567890", "9999999999999999", "1" * 16, "1" * 17, " x ", "\tx", "x\x0b", "0", "10", "100"]
    values = [rng.choice(pool) for _ in range(3000)]
    for column, reference in ((byte_column(values), StrColumn(values)),
                              (byte_column(values).stripped(), StrColumn(values).stripped())):
        distinct, codes, first = column.factorize()
        want_distinct, want_codes, want_first = reference.factorize()
        assert (distinct.to_list(), codes.tolist(), first.tolist()) == \
            (want_distinct.to_list(), want_codes.tolist(), want_first.tolist())
        assert column.blank().tolist() == reference.blank().tolist()
        assert column.to_list() == reference.to_list()
    monkeypatch.setattr(_bytecol, "word_hash", lambda word, lengths: np.zeros(len(word), dtype=np.uint64))
    distinct, codes, _ = byte_column(values).factorize()  # every key collides: the exact path answers
    assert (distinct.to_list(), codes.tolist()) == (StrColumn(values).factorize()[0].to_list(),
                                                   StrColumn(values).factorize()[1].tolist())


def test_timestamps_match_the_reference_parser() -> None:
    values = ["2026-10-01T10:00:00", "2024-02-29 23:59:59", "1970-01-01", "2026-10-01 10:00", "2099-12-31T23:59:59"]
    for tz in (UTC, ZoneInfo("Europe/Berlin")):
        got = byte_column(values).timestamps(tz, None)
        want = parse_timestamps(values, tz)
        assert got[0].tolist() == want[0].tolist() and got[1].tolist() == want[1].tolist()


def test_byte_strings_are_a_sequence() -> None:
    strings = byte_column(["a", "bc", "", "def"]).as_sequence()
    assert len(strings) == 4 and strings[1] == "bc" and strings[-1] == "def" and list(strings[1:3]) == ["bc", ""]
    assert strings == ["a", "bc", "", "def"] and strings != ["a"] and list(strings) == ["a", "bc", "", "def"]
    with pytest.raises(IndexError):
        strings[4]


@pytest.mark.parametrize("values", [["1", "2"], ['a"b', "c,d", "e\nf", "g\rh", " i ", ""], ["Zoë", "x"]])
def test_write_columns_matches_csv_writer(tmp_path: Path, values: list[str]) -> None:
    columns = [values, [f"{v}!" for v in values], [str(i) for i in range(len(values))]]
    write_columns(tmp_path / "a.csv", ["h,1", "h2", "h3"], columns)
    write_csv(tmp_path / "b.csv", ["h,1", "h2", "h3"], [list(r) for r in zip(*columns, strict=True)])
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()


def test_score_command_output_is_identical(cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = write(tmp_path / "bad.csv", BAD)
    outputs = []
    for force_slow in (False, True):
        with monkeypatch.context() as m:
            if force_slow:
                m.setattr(_fastcsv, "read_fast_table", lambda p: _fastcsv.Unsuitable("forced"))
            out = tmp_path / f"seg{force_slow}.csv"
            before = _fastcsv.STATS.fast
            code, stdout, _ = cli("score", path, "--as-of", "2026-11-01", "--rate", "USD=0.5", "--out", out)
            assert code == 0 and (_fastcsv.STATS.fast == before + 1) != force_slow
            outputs.append((out.read_bytes(), (tmp_path / f"seg{force_slow}.rejects.csv").read_bytes(), stdout))
    assert outputs[0][:2] == outputs[1][:2]
    assert outputs[0][2].replace("segTrue", "segFalse") == outputs[1][2].replace("segTrue", "segFalse")
