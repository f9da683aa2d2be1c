"""The csv source (files as a ledger source) and the csv sink (audience files + changes log)."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from rfmsync.connectors.csv.sink import CsvSink, CsvSinkConfig
from rfmsync.connectors.csv.source import CsvSource, CsvSourceConfig, FileCursor
from rfmsync.core.diff import Change, ChangeKind
from rfmsync.core.errors import ConfigError

UNTIL = datetime(2026, 11, 1, tzinfo=UTC)


def source(tmp_path: Path, text: str, **config: object) -> CsvSource:
    (tmp_path / "orders.csv").write_text(text, encoding="utf-8")
    cfg = CsvSourceConfig.model_validate({"type": "csv", "path": "orders.csv", **config})
    return CsvSource(cfg, tmp_path, ZoneInfo("UTC"), None, {})


def test_source_reads_orders_and_skips_an_unchanged_file(tmp_path: Path) -> None:
    src = source(tmp_path, "order_id,customer_id,email,created_at,total\nA,1,a@x.test,2026-10-01,10.50\n"
                           "A,1,a@x.test,2026-10-01,2.00\nB,2,,2026-10-02 10:00,abc\nC,,,2026-10-03,1\n")
    (page,) = list(src.pull(None, UNTIL, None))
    assert page.columns is not None and not page.orders  # a file comes as columns, no model per order
    assert [(o.order_id, o.customer_key, o.email, str(o.amount), o.created_at.isoformat())
            for o in page.columns.as_orders()] == \
        [("A", "1", "a@x.test", "12.5", "2026-10-01T00:00:00+00:00")]
    assert [(r.position, r.reason.split(";")[0]) for r in page.rejects] == [
        ("orders.csv line 4", "total: amount is not a number (nor in the column's decimal format, see --decimal)"),
        ("orders.csv line 5", "customer_id: missing customer id")]
    assert page.rejects[0].raw["order_id"] == "B"
    size = (tmp_path / "orders.csv").stat().st_size
    assert isinstance(page.cursor, FileCursor) and page.cursor.fingerprint.startswith(f"{size}:")
    assert list(src.pull(UNTIL, UNTIL, page.cursor)) == []  # unchanged: not even parsed
    (tmp_path / "orders.csv").write_text("order_id,customer_id,created_at,total\nA,1,2026-10-01,9\n")
    assert [p.size for p in src.pull(UNTIL, UNTIL, page.cursor)] == [1]


def test_source_needs_an_order_id_column(tmp_path: Path) -> None:
    src = source(tmp_path, "customer_id,created_at,total\n1,2026-10-01,10\n")
    with pytest.raises(ConfigError, match="no order id column"):
        list(src.pull(None, UNTIL, None))


def change(key: str, kind: ChangeKind, old: str | None, new: str | None, cell: str = "555") -> Change:
    fields = {} if new is None else {"segment": new, "rfm_cell": cell}
    return Change(key, kind, old, new, fields, email=f"{key}@x.test")


def rows(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_sink_keeps_one_file_per_segment_and_a_log(tmp_path: Path) -> None:
    sink = CsvSink(CsvSinkConfig(type="csv", dir=Path("out")), tmp_path)
    sink.push("s:csv:1:0", [change("1", ChangeKind.ENTERED, None, "Champions"),
                            change("2", ChangeKind.ENTERED, None, "Can't Lose Them", "155")])
    result = sink.push("s:csv:2:0", [change("1", ChangeKind.MOVED, "Champions", "At Risk", "255"),
                                     change("2", ChangeKind.LEFT, "Can't Lose Them", None)])
    assert list(result.accepted) == ["1", "2"]
    audiences = tmp_path / "out" / "audiences"
    assert rows(audiences / "champions.csv") == [["customer_key", "email", "phone", "segment", "rfm_cell"]]
    assert rows(audiences / "at-risk.csv")[1:] == [["1", "1@x.test", "", "At Risk", "255"]]
    assert rows(audiences / "cant-lose-them.csv")[1:] == []
    assert [r[:5] for r in rows(tmp_path / "out" / "changes.csv")] == [
        ["batch_id", "customer_key", "kind", "old_segment", "new_segment"],
        ["s:csv:1:0", "1", "entered", "", "Champions"], ["s:csv:1:0", "2", "entered", "", "Can't Lose Them"],
        ["s:csv:2:0", "1", "moved", "Champions", "At Risk"], ["s:csv:2:0", "2", "left", "Can't Lose Them", ""]]


def test_sink_replay_of_a_batch_does_not_duplicate_log_lines(tmp_path: Path) -> None:
    sink = CsvSink(CsvSinkConfig(type="csv", dir=Path("out")), tmp_path)
    batch = [change("1", ChangeKind.ENTERED, None, "Champions"), change("2", ChangeKind.ENTERED, None, "Lost")]
    sink.push("s:csv:1:0", batch)
    sink.push("s:csv:1:0", batch)  # replayed after a crash before the ack
    log = tmp_path / "out" / "changes.csv"
    # A crash half-way through writing a batch leaves part of it; the replay replaces it.
    with open(log, "a", encoding="utf-8") as handle:
        handle.write("s:csv:1:1,3,entered,,Lost,Lost,1")
    sink.push("s:csv:1:1", [change("3", ChangeKind.ENTERED, None, "Lost", "111")])
    assert [r[:2] for r in rows(log)[1:]] == [["s:csv:1:0", "1"], ["s:csv:1:0", "2"], ["s:csv:1:1", "3"]]
    assert [r[0] for r in rows(tmp_path / "out" / "audiences" / "lost.csv")[1:]] == ["2", "3"]


def test_sink_config_checks_fields() -> None:
    with pytest.raises(ValueError, match="the first pushed field must be 'segment'"):
        CsvSinkConfig.model_validate({"type": "csv", "dir": "x", "fields": ["rfm_cell"]})
    with pytest.raises(ValueError, match="unknown field 'shoe_size'"):
        CsvSinkConfig.model_validate({"type": "csv", "dir": "x", "fields": ["segment", "shoe_size"]})
