"""Helpers for the sync crash, concurrency and daemon tests (tests/lib is on pytest's pythonpath).

- A deterministic shop: orders (and a few records a source would refuse) over two "epochs", so a
  second run sees new orders, customers moving between segments and customers leaving the window.
- `PagedSource`, a cursor-paged source over those records, and `CrashingCsvSink`, the real csv sink
  wrapped so that a child process can stop dead at a chosen point: while the source is asked for
  page N, right after page N was written, after the sink wrote batch K but before the run loop
  acknowledges it, with batch K's log line torn mid-write, or between two batches. The child then
  sleeps and the test kills it with SIGKILL. Nothing here is a hook in production code: the points
  are reached through the Source/Sink protocols, RunOptions.progress and module attributes patched
  in the child only.
- `run_spec`: one run of that store from a JSON-able spec, in the test process or in a child
  (`python -c "import synckit; ..." spec.json`).
- Readers for the state database and the csv sink's files, and a process registry that always
  kills what a test started.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from rfmsync.connectors.base import OrderPage, PageToken, PushResult, RejectedRecord
from rfmsync.connectors.csv.sink import CsvSink, CsvSinkConfig
from rfmsync.connectors.webhook.sink import BATCH_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from rfmsync.core.diff import Change
from rfmsync.core.models import Order, OrderStatus
from rfmsync.core.rfm import RfmSettings
from rfmsync.sync.state import STATE_FILE

LIB = Path(__file__).resolve().parent
RFMSYNC = Path(sys.executable).with_name("rfmsync")  # the console script next to the interpreter

STORE = "shop"
SOURCE = "shop-api"
TZ = "Europe/Berlin"
ZONE = ZoneInfo(TZ)
WINDOW_DAYS = 365
PAGE_SIZE = 80
# sink name -> batch size: "a" gets many small batches, "b" a few large ones.
SINKS = {"a": 40, "b": 150}
SINK_FIELDS = ["segment", "rfm_cell"]
# The runs' clocks: epoch 2 is 61 days later, so customers whose orders all fall in the first 61
# days of epoch 1's window leave it.
NOW = {1: datetime(2025, 6, 1, 6, 0, tzinfo=UTC), 2: datetime(2025, 8, 1, 6, 0, tzinfo=UTC)}
CUSTOMERS = 240
NEW_CUSTOMERS = 20  # appear in epoch 2
HOLD_SECONDS = 120.0  # how long a child waits to be killed; the tests kill it long before


# ---------------------------------------------------------------------------------------------
# The shop's records


@dataclass(frozen=True)
class BadRecord:
    """A record the source refuses (its reason is kept in the rejects table)."""

    record_id: str
    updated_at: datetime
    reason: str


SourceRecord = Order | BadRecord


def updated_of(record: SourceRecord) -> datetime:
    if isinstance(record, BadRecord):
        return record.updated_at
    assert record.updated_at is not None
    return record.updated_at


def record_id_of(record: SourceRecord) -> str:
    return record.record_id if isinstance(record, BadRecord) else record.order_id


def _order(rng: random.Random, number: int, customer: int, created: datetime, latest: datetime) -> Order:
    roll = rng.random()
    status = OrderStatus.PAID if roll < 0.88 else OrderStatus.REFUNDED if roll < 0.94 else OrderStatus.CANCELLED
    updated = min(created + timedelta(hours=rng.randint(0, 72)), latest)
    return Order(source=SOURCE, order_id=f"o{number:05d}", customer_key=f"c{customer:04d}",
                 email=f"c{customer:04d}@example.com", created_at=created, updated_at=updated,
                 amount=Decimal(rng.randint(500, 60_000)) / 100, currency="EUR", status=status)


def records(epoch: int) -> list[SourceRecord]:
    """Everything the source holds at `epoch` (1 or 2); epoch 2 is epoch 1 plus later records."""
    return list(_records(epoch))


@functools.cache
def _records(epoch: int) -> tuple[SourceRecord, ...]:
    rng = random.Random(20250601)
    end1 = NOW[1] - timedelta(hours=1)
    out: list[SourceRecord] = []
    number = 0
    for customer in range(CUSTOMERS):
        # Orders up to 420 days back: some customers are outside the window from the start, some
        # leave it by epoch 2, most stay.
        first = NOW[1] - timedelta(days=rng.randint(1, 420))
        for _ in range(rng.choice((1, 1, 2, 3, 4, 6))):
            created = first + timedelta(days=rng.randint(0, max(0, (end1 - first).days)), minutes=rng.randint(0, 1439))
            out.append(_order(rng, number, customer, min(created, end1), end1))
            number += 1
    for i in range(12):  # spread over the history, so most pages carry one
        out.append(BadRecord(f"bad{i:02d}", NOW[1] - timedelta(days=33 * i + 2), "amount: not a number"))
    if epoch == 1:
        return tuple(out)
    rng = random.Random(20250801)
    end2 = NOW[2] - timedelta(hours=1)
    for customer in [*rng.sample(range(CUSTOMERS), 70), *range(CUSTOMERS, CUSTOMERS + NEW_CUSTOMERS)]:
        created = NOW[1] + timedelta(days=rng.randint(0, 59), minutes=rng.randint(0, 1439))
        out.append(_order(rng, number, customer, created, end2))
        number += 1
    for i in range(3):
        out.append(BadRecord(f"bad-late{i}", NOW[1] + timedelta(days=10 * i + 2), "created_at: unreadable date"))
    return tuple(out)


def orders_of(epoch: int) -> list[Order]:
    return [r for r in records(epoch) if isinstance(r, Order)]


def bad_ids(epoch: int) -> set[str]:
    return {r.record_id for r in records(epoch) if isinstance(r, BadRecord)}


def customers_in_window(epoch: int) -> set[str]:
    """Customers with a counted order in the window at `epoch`,
    computed here without rfmsync: every one of them is scored and lands in a classic segment."""
    as_of = NOW[epoch].astimezone(ZONE).date()
    keep = set()
    for order in orders_of(epoch):
        # docs/scoring.md: counted unless cancelled, voided or a test, with a positive amount; the
        # window is as_of - window_days < local order date <= as_of.
        if order.counted and as_of - timedelta(days=WINDOW_DAYS) < order.created_at.astimezone(ZONE).date() <= as_of:
            assert order.customer_key is not None
            keep.add(order.customer_key)
    return keep


def customers_counted(epoch: int = 1) -> set[str]:
    """Customers with a counted order at all (a store without a window)."""
    return {o.customer_key for o in orders_of(epoch) if o.counted and o.customer_key is not None}


def write_orders_csv(path: Path, epoch: int = 1) -> list[Order]:
    """The epoch's orders as a file the csv source reads (columns as in config.example.toml)."""
    orders = orders_of(epoch)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["order_id", "customer_id", "created_at", "total", "email", "status", "currency"])
        for o in orders:
            writer.writerow([o.order_id, o.customer_key, o.created_at.strftime("%Y-%m-%dT%H:%M:%SZ"), str(o.amount),
                             o.email, o.status.value, o.currency])
    return orders


def write_config(path: Path, sinks: str, *, orders: str = "orders.csv", extra_store: str = "") -> Path:
    """A one-store config ("shop", the csv source on `orders`) with the given sinks' TOML."""
    path.write_text(f"""state_dir = "state"

[stores.shop]
timezone = "{TZ}"
schedule = "0 4 * * *"
currency = "EUR"
{extra_store}
[[stores.shop.sources]]
type = "csv"
name = "orders"
path = "{orders}"
map = {CSV_MAP}

{sinks}
""", encoding="utf-8")
    return path


CSV_MAP = ('{ customer = "customer_id", order = "order_id", date = "created_at", amount = "total", '
           'email = "email", status = "status", currency = "currency" }')


# ---------------------------------------------------------------------------------------------
# A source and a sink that can stop dead


def stop_here(marker: Path, what: str) -> None:
    """Tells the test where we are (atomically) and waits to be killed."""
    tmp = marker.with_name(marker.name + ".tmp")
    tmp.write_text(json.dumps({"pid": os.getpid(), "at": what}), encoding="utf-8")
    os.replace(tmp, marker)
    time.sleep(HOLD_SECONDS)
    raise SystemExit(f"synckit: not killed within {HOLD_SECONDS} s at {what}")


def _append_json(path: Path, data: Mapping[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(data, sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


class PagedSource:
    """Pages of orders updated in [since, until), oldest first, like a paginated API.

    The cursor is "<since>|<offset>": it resumes a pull only for the same `since` (a cursor from
    another query is ignored, as an API would refuse it). Every pull is logged to `pull_log`.
    """

    def __init__(self, held: Sequence[SourceRecord], crash: Mapping[str, Any] | None = None,
                 marker: Path | None = None, pull_log: Path | None = None) -> None:
        self.held = list(held)
        self.crash = crash
        self.marker = marker
        self.pull_log = pull_log

    cursor_model = PageToken

    @property
    def name(self) -> str:
        return SOURCE

    def close(self) -> None:
        pass

    def pull(self, since: datetime | None, until: datetime, cursor: PageToken | None) -> Iterator[OrderPage]:
        key = "all" if since is None else str(int(since.timestamp()))
        selected = sorted((r for r in self.held if (since is None or updated_of(r) >= since) and updated_of(r) < until),
                          key=lambda r: (updated_of(r), record_id_of(r)))
        start = 0
        if cursor:
            cursor_key, _, offset = cursor.token.rpartition("|")
            if cursor_key == key:
                start = int(offset)
        if self.pull_log is not None:
            _append_json(self.pull_log, {"pid": os.getpid(), "since": key, "start": start, "total": len(selected)})
        for begin in range(start, len(selected), PAGE_SIZE):
            if self.crash and self.crash["at"] == "page-asked" and begin // PAGE_SIZE == self.crash["page"]:
                assert self.marker is not None
                stop_here(self.marker, f"page {begin // PAGE_SIZE} asked")
            chunk = selected[begin:begin + PAGE_SIZE]
            yield OrderPage([r for r in chunk if isinstance(r, Order)],
                            [RejectedRecord(f"record {r.record_id}", r.reason, {"id": r.record_id})
                             for r in chunk if isinstance(r, BadRecord)],
                            cursor=PageToken(token=f"{key}|{begin + len(chunk)}"))


class CrashingCsvSink:
    """The real CsvSink; at push number `crash["push"]` of this sink it stops dead:

    - "pushed": after the real push (the platform accepted), before the run loop acknowledges;
    - "torn": as if killed while writing the log: the first `crash["lines"]` lines of the batch are
      complete, the next one is cut `crash["cut"]` bytes in, and the audiences are untouched
      (`lines` = -1 cuts the header of a new log);
    - "before-push": after the batch went to the outbox, before anything reached the sink.
    """

    def __init__(self, inner: CsvSink, crash: Mapping[str, Any] | None = None, marker: Path | None = None) -> None:
        self.inner = inner
        mine = crash and crash.get("sink") == inner.name and crash["at"] in ("pushed", "torn", "before-push")
        self.crash = crash if mine else None
        self.marker = marker
        self.pushes = 0

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def batch_size(self) -> int:
        return self.inner.batch_size

    @property
    def fields(self) -> list[str]:
        return self.inner.fields

    def close(self) -> None:
        self.inner.close()

    def push(self, batch_id: str, changes: Sequence[Change]) -> PushResult:
        number = self.pushes
        self.pushes += 1
        if self.crash is None or self.crash["push"] != number:
            return self.inner.push(batch_id, changes)
        assert self.marker is not None
        where = f"{self.crash['at']} {batch_id}"
        if self.crash["at"] == "before-push":
            stop_here(self.marker, where)
        log = self.inner.dir / "changes.csv"
        before = log.read_bytes() if log.exists() else b""
        audiences = {p: p.read_bytes() for p in (self.inner.dir / "audiences").glob("*.csv")}
        self.inner.push(batch_id, changes)
        if self.crash["at"] == "torn":
            for path in (self.inner.dir / "audiences").glob("*.csv"):
                if path not in audiences:
                    path.unlink()
            for path, data in audiences.items():
                path.write_bytes(data)
            lines = self.crash["lines"]
            if lines < 0:
                cut = self.crash["cut"]  # inside the header of a log that did not exist
                assert before == b""
            else:
                written = log.read_bytes()[len(before):].split(b"\n")
                cut = len(before) + sum(len(line) + 1 for line in written[:lines]) + self.crash["cut"]
            with open(log, "rb+") as handle:
                handle.truncate(cut)
        stop_here(self.marker, where)
        raise AssertionError("unreachable")


# ---------------------------------------------------------------------------------------------
# One run from a spec


@dataclass(frozen=True)
class World:
    """Where one test's store keeps its state and sink files."""

    root: Path

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    @property
    def state_file(self) -> Path:
        return self.state_dir / STATE_FILE

    def sink_dir(self, sink: str) -> Path:
        return self.root / f"sink-{sink}"

    @property
    def ack_log(self) -> Path:
        return self.root / "acks.jsonl"

    @property
    def pull_log(self) -> Path:
        return self.root / "pulls.jsonl"

    def spec(self, epoch: int, crash: Mapping[str, Any] | None = None, marker: Path | None = None, *,
             full_resync: bool = False) -> dict[str, Any]:
        return {"root": str(self.root), "epoch": epoch, "crash": dict(crash) if crash else None,
                "marker": str(marker) if marker else None, "full_resync": full_resync}


def build_runtime(world: World, epoch: int, crash: Mapping[str, Any] | None = None,
                  marker: Path | None = None) -> Any:
    from rfmsync.sync.pipeline import StoreRuntime

    sinks = [CrashingCsvSink(CsvSink(CsvSinkConfig(type="csv", name=name, dir=world.sink_dir(name),
                                                   fields=SINK_FIELDS, batch_size=size), world.root),
                             crash, marker)
             for name, size in SINKS.items()]
    return StoreRuntime(name=STORE, tz_name=TZ, settings=RfmSettings(scheme="classic"),
                        sources=[PagedSource(records(epoch), crash, marker, world.pull_log)], sinks=sinks,
                        window_days=WINDOW_DAYS, currency="EUR")


@contextlib.contextmanager
def _observed(world: World, crash: Mapping[str, Any] | None, marker: Path | None) -> Iterator[None]:
    """Logs every acknowledgement the run loop commits and, for "page-written", stops right after
    page N's write returned. Patches module attributes, restored on exit."""
    from rfmsync.sync import pipeline, sink_state

    real_ack = sink_state.acknowledge
    real_upsert = pipeline.upsert_orders
    pages = [0]

    def acknowledge(db: Any, store: str, sink: str, field_names: Sequence[str], run_id: int, batch_id: str,
                    changes: Sequence[Change], accepted: Any, rejected: Mapping[str, str], *more: Any) -> None:
        accepted = list(accepted)
        real_ack(db, store, sink, field_names, run_id, batch_id, changes, accepted, rejected, *more)
        _append_json(world.ack_log, {"pid": os.getpid(), "sink": sink, "run_id": run_id, "batch_id": batch_id,
                                     "keys": sorted(accepted)})

    def upsert_orders(*args: Any, **kwargs: Any) -> None:
        real_upsert(*args, **kwargs)
        number = pages[0]
        pages[0] += 1
        if crash and crash["at"] == "page-written" and crash["page"] == number:
            assert marker is not None
            stop_here(marker, f"page {number} written")

    sink_state.acknowledge = acknowledge  # type: ignore[assignment]
    pipeline.upsert_orders = upsert_orders  # type: ignore[assignment]
    try:
        yield
    finally:
        sink_state.acknowledge = real_ack
        pipeline.upsert_orders = real_upsert


def run_spec(spec: Mapping[str, Any]) -> Any:
    """One run of the store as `spec` says; returns the RunSummary."""
    from rfmsync.sync.pipeline import RunOptions, run_store
    from rfmsync.sync.state import Database

    world = World(Path(spec["root"]))
    epoch = int(spec["epoch"])
    crash = spec.get("crash")
    marker = Path(spec["marker"]) if spec.get("marker") else None
    progress: Callable[[str, int], None] | None = None
    if crash and crash["at"] == "between":
        calls = [0]

        def progress(name: str, count: int) -> None:  # after each new batch is acknowledged
            if name == crash["sink"]:
                calls[0] += 1
                if calls[0] == crash["after"]:
                    assert marker is not None
                    stop_here(marker, f"between batches of {name}, {count} accepted")

    db = Database(world.state_dir)
    try:
        with _observed(world, crash, marker):
            return run_store(db, build_runtime(world, epoch, crash, marker),
                             RunOptions(kind="sync", now=NOW[epoch], progress=progress,
                                        full_resync=bool(spec.get("full_resync"))))
    finally:
        db.close()


def child_main(spec_path: str) -> int:
    """Entry point of a child process: `python -c "import synckit, sys; ..." SPEC`."""
    summary = run_spec(json.loads(Path(spec_path).read_text(encoding="utf-8")))
    print(json.dumps({"outcome": summary.outcome, "run_id": summary.run_id}))
    return 0


# ---------------------------------------------------------------------------------------------
# Processes


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(LIB), *filter(None, [env.get("PYTHONPATH")])])
    env["PYTHONUNBUFFERED"] = "1"
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        env.pop(proxy, None)  # the webhook server is on loopback
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.update(extra)
    return env


class Processes:
    """Starts child processes with stdout/stderr in files, and kills every one still running at the end."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.started: list[subprocess.Popen[bytes]] = []
        self.outputs: dict[int, tuple[Path, Path]] = {}

    def start(self, args: Sequence[str | Path], env: Mapping[str, str] | None = None,
              name: str | None = None) -> subprocess.Popen[bytes]:
        label = name or f"proc{len(self.started)}"
        out, err = self.workdir / f"{label}.out", self.workdir / f"{label}.err"
        with open(out, "wb") as stdout, open(err, "wb") as stderr:
            proc = subprocess.Popen([str(a) for a in args], stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL,
                                    env=dict(env) if env is not None else child_env(), cwd=self.workdir)
        self.started.append(proc)
        self.outputs[proc.pid] = (out, err)
        return proc

    def start_spec(self, spec: Mapping[str, Any], name: str) -> subprocess.Popen[bytes]:
        path = self.workdir / f"{name}.json"
        path.write_text(json.dumps(spec), encoding="utf-8")
        code = "import sys, synckit; sys.exit(synckit.child_main(sys.argv[1]))"
        return self.start([sys.executable, "-c", code, path], name=name)

    def stdout(self, proc: subprocess.Popen[bytes]) -> str:
        return self.outputs[proc.pid][0].read_text(encoding="utf-8", errors="replace")

    def stderr(self, proc: subprocess.Popen[bytes]) -> str:
        return self.outputs[proc.pid][1].read_text(encoding="utf-8", errors="replace")

    def describe(self, proc: subprocess.Popen[bytes]) -> str:
        return f"exit {proc.poll()}\n--- stdout\n{self.stdout(proc)}\n--- stderr\n{self.stderr(proc)}"

    def wait(self, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> int:
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError(f"process did not exit within {timeout} s\n{self.describe(proc)}") from None

    def kill9(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL, then reap (a zombie would still look alive to anyone checking its pid)."""
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL, self.describe(proc)

    def close(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=30)


def wait_until(check: Callable[[], Any], what: str, timeout: float = 60.0,
               procs: Sequence[tuple[Processes, subprocess.Popen[bytes]]] = (), interval: float = 0.02) -> Any:
    """Polls `check` until it returns something truthy; fails early when a watched process exits."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        for registry, proc in procs:
            if proc.poll() is not None:
                result = check()  # it may have got there just before exiting
                if result:
                    return result
                raise AssertionError(f"waiting for {what}: the process ended first\n{registry.describe(proc)}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def wait_for_marker(marker: Path, registry: Processes, proc: subprocess.Popen[bytes],
                    timeout: float = 60.0) -> dict[str, Any]:
    wait_until(marker.exists, f"marker {marker.name}", timeout, [(registry, proc)])
    data: dict[str, Any] = json.loads(marker.read_text(encoding="utf-8"))
    assert data["pid"] == proc.pid
    return data


# ---------------------------------------------------------------------------------------------
# Reading what the runs left behind


def query(state_file: Path, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Reads the state the way another process would (its own connection, closed after)."""
    conn = sqlite3.connect(state_file, timeout=30.0)
    try:
        return [tuple(row) for row in conn.execute(sql, params).fetchall()]
    finally:
        conn.close()


def runs_of(state_file: Path, store: str = STORE) -> list[tuple[int, str, str, str | None]]:
    """(id, kind, outcome, error) per run, oldest first."""
    return [(r[0], r[1], r[2], r[3]) for r in
            query(state_file, "SELECT id, kind, outcome, error FROM runs WHERE store = ? ORDER BY id", (store,))]


def sink_records(state_file: Path, sink: str, store: str = STORE) -> dict[str, tuple[tuple[str, ...], int]]:
    """customer key -> (acknowledged record, run that acknowledged it)."""
    rows = query(state_file, "SELECT customer_key, record, acked_run FROM sink_records WHERE store = ? AND sink = ?",
                 (store, sink))
    return {key: (tuple(json.loads(record)), acked_run) for key, record, acked_run in rows}


def count(state_file: Path, table: str, store: str = STORE) -> int:
    return int(query(state_file, f"SELECT COUNT(*) FROM {table} WHERE store = ?", (store,))[0][0])


def ledger_orders(state_file: Path, store: str = STORE) -> int:
    """Orders in the ledger, as rows and as bulk sources' snapshots."""
    rows = count(state_file, "orders", store)
    return rows + int(query(state_file, "SELECT COALESCE(SUM(orders), 0) FROM order_snapshots WHERE store = ?",
                            (store,))[0][0])


@dataclass(frozen=True)
class LogLine:
    batch_id: str
    customer_key: str
    kind: str
    old_segment: str
    new_segment: str
    fields: tuple[str, ...]

    @property
    def run_id(self) -> int:
        return int(self.batch_id.split(":")[2])

    @property
    def change(self) -> tuple[str, str, str, str, tuple[str, ...]]:
        """What was asked, without the batch it travelled in."""
        return (self.customer_key, self.kind, self.old_segment, self.new_segment, self.fields)


def read_changes(sink_dir: Path) -> tuple[list[str], list[LogLine]]:
    """The csv sink's changes.csv: header and lines. Fails on a line of the wrong width or a torn end."""
    path = sink_dir / "changes.csv"
    if not path.exists():
        return [], []
    data = path.read_bytes()
    assert not data or data.endswith(b"\n"), f"{path} ends in a partial line: {data[-80:]!r}"
    rows = list(csv.reader(data.decode("utf-8").splitlines()))
    header, body = rows[0], rows[1:]
    assert header == ["batch_id", "customer_key", "kind", "old_segment", "new_segment", *SINK_FIELDS], header
    for row in body:
        assert len(row) == len(header), f"malformed line in {path}: {row}"
    return header, [LogLine(r[0], r[1], r[2], r[3], r[4], tuple(r[5:])) for r in body]


def read_audiences(sink_dir: Path) -> dict[str, dict[str, tuple[str, ...]]]:
    """audience file name -> customer key -> (email, phone, *fields)."""
    out: dict[str, dict[str, tuple[str, ...]]] = {}
    for path in sorted((sink_dir / "audiences").glob("*.csv")):
        with open(path, encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle))
        assert rows[0] == ["customer_key", "email", "phone", *SINK_FIELDS], (path, rows[0])
        keys = [r[0] for r in rows[1:]]
        assert keys == sorted(keys) and len(set(keys)) == len(keys), f"{path}: keys unsorted or repeated"
        out[path.name] = {r[0]: tuple(r[1:]) for r in rows[1:]}
    return out


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# ---------------------------------------------------------------------------------------------
# A loopback webhook receiver


@dataclass
class Received:
    batch_id: str
    body: dict[str, Any]
    signed: bool  # the signature checks out with the configured secret


@dataclass
class WebhookServer:
    """Accepts every POST with 200 after `delay` seconds; the first answer also waits for `gate`
    (so a test can keep a run busy until it has seen what it needs). Records what arrived."""

    secret: str
    delay: float = 0.2
    gate_timeout: float = 60.0
    # What every POST gets; a test changes it while the server runs (503 with Retry-After: 60).
    status: int = 200
    retry_after: str | None = None
    gate: threading.Event = field(default_factory=threading.Event)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                signed = verify_signature(owner.secret, self.headers.get(TIMESTAMP_HEADER, ""), body,
                                          self.headers.get(SIGNATURE_HEADER, ""))
                with owner.lock:
                    first = not owner.received
                    owner.received.append(Received(self.headers.get(BATCH_ID_HEADER, ""), json.loads(body), signed))
                if first:
                    owner.gate.wait(owner.gate_timeout)
                time.sleep(owner.delay)
                answer = b"{}"
                self.send_response(owner.status)
                if owner.retry_after is not None:
                    self.send_header("Retry-After", owner.retry_after)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="webhook-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/rfm"

    def __enter__(self) -> WebhookServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=30)

    def requests(self) -> list[Received]:
        with self.lock:
            return list(self.received)


# ---------------------------------------------------------------------------------------------
# `rfmsync sync` with a sink that holds a batch until told to go on


class HeldSink:
    """Any sink; after the real push number `hold` it writes `marker` and waits for `release`
    to exist before returning, so a signal can arrive while a batch is in flight."""

    def __init__(self, inner: Any, hold: int, marker: Path, release: Path) -> None:
        self.inner, self.hold, self.marker, self.release = inner, hold, marker, release
        self.pushes = 0

    @property
    def name(self) -> str:
        return str(self.inner.name)

    @property
    def batch_size(self) -> int:
        return int(self.inner.batch_size)

    @property
    def fields(self) -> list[str]:
        return list(self.inner.fields)

    def close(self) -> None:
        self.inner.close()

    def push(self, batch_id: str, changes: Sequence[Change]) -> PushResult:
        result: PushResult = self.inner.push(batch_id, changes)
        number = self.pushes
        self.pushes += 1
        if number == self.hold:
            tmp = self.marker.with_name(self.marker.name + ".tmp")
            tmp.write_text(json.dumps({"pid": os.getpid(), "at": batch_id}), encoding="utf-8")
            os.replace(tmp, self.marker)
            deadline = time.monotonic() + HOLD_SECONDS
            while not self.release.exists():
                if time.monotonic() > deadline:
                    raise SystemExit("synckit: never released")
                time.sleep(0.02)
        return result


def held_sync_main(spec_path: str, argv: Sequence[str]) -> int:
    """`rfmsync <argv>` (the real CLI entry point, signal handling included) with every sink of
    every store wrapped in a HeldSink as the spec says."""
    from rfmsync.sync import registry
    from rfmsync.sync.cli import main

    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    real_build_store = registry.build_store

    def build_store(config: Any, name: str) -> Any:
        runtime = real_build_store(config, name)
        return replace(runtime, sinks=[HeldSink(s, spec["hold"], Path(spec["marker"]), Path(spec["release"]))
                                       for s in runtime.sinks])

    registry.build_store = build_store  # type: ignore[assignment]  # run_cmds imports it when the run starts
    return main(list(argv))
