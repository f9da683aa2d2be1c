"""Fuzzing the order-file reader: whatever the bytes, a result or an InputError, never anything else."""

from __future__ import annotations

import tempfile
from pathlib import Path
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rfmsync.connectors.orderfiles.options import ReadOptions
from rfmsync.connectors.orderfiles.orders import read_orders_file
from rfmsync.core.errors import InputError

CELLS = st.one_of(
    st.sampled_from(["12.50", "12,50", "1.234,50", "1,234.50", "€12,50", "12.50 EUR", "$1,200", "1,234", "1e308",
                     "-3", "", " ", "nan", "inf", "0", "99999999999999", "abc", "ada@example.com"]),
    st.sampled_from(["2026-10-31", "2026-10-31T14:05:00Z", "2026-10-31 14:05:00 -0500", "31/12/2025",
                     "12/31/2025", "03/04/2025", "31.12.2025", "19970101", "0001-01-01", "9999-12-31T23:59:59Z",
                     "2026-02-31", "24:61"]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=8),
)
SEPARATORS = st.sampled_from([",", ";", "\t", "|", " "])
HEADERS = st.lists(st.sampled_from(["order_id", "customer_id", "created_at", "total", "email", "status", "currency",
                                    "x", "Total", "Name"]), min_size=1, max_size=7, unique=True)
OPTIONS = st.fixed_dictionaries({}, optional={"decimal": st.sampled_from([".", ","]),
                                              "delimiter": st.sampled_from([",", ";", "tab", "|", "whitespace"]),
                                              "encoding": st.sampled_from(["utf-8", "windows-1252", "utf-16", "xx"]),
                                              "date_format": st.sampled_from(["%d/%m/%Y", "%Y", "%Q"])})


def _read(data: bytes, options: dict[str, str], suffix: str = ".csv") -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"orders{suffix}"
        path.write_bytes(data)
        try:
            read_orders_file(path, None, ReadOptions(tz=ZoneInfo("Europe/Berlin"), **options))  # type: ignore[arg-type]
        except InputError as exc:
            assert "Traceback" not in str(exc)


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(header=HEADERS, rows=st.lists(st.lists(CELLS, min_size=0, max_size=8), max_size=12), sep=SEPARATORS,
       quote=st.booleans(), options=OPTIONS, encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"]))
def test_shaped_files_never_raise_anything_but_input_error(header: list[str], rows: list[list[str]], sep: str,
                                                          quote: bool, options: dict[str, str], encoding: str) -> None:
    def cell(value: str) -> str:
        return '"' + value.replace('"', '""') + '"' if quote else value
    text = "\n".join(sep.join(cell(c) for c in row) for row in [header, *rows]) + "\n"
    _read(text.encode(encoding, errors="replace"), options)


@settings(max_examples=200, deadline=2000)
@given(data=st.binary(max_size=400), options=OPTIONS, gz=st.booleans())
def test_random_bytes_never_raise_anything_but_input_error(data: bytes, options: dict[str, str], gz: bool) -> None:
    _read(data, options, ".csv.gz" if gz else ".csv")
