"""The durable local state: SQLite in WAL mode under `state_dir`, schema versioned with migrations.

Tables: the order ledger, cursors, runs, score snapshots, per-sink acknowledged records, the
outbox of batches being pushed, rejected records, store leases, and what sinks remember. Everything that belongs
together commits in one transaction (a page of orders with its cursor; a batch's acks with the
removal of its outbox entry), so a crash at any point leaves a state a restart can resume from.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rfmsync.core.errors import RfmsyncError

STATE_FILE = "state.sqlite3"

# Each entry moves the schema one version up; never edit a released entry, append a new one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE orders (
        store TEXT NOT NULL, source TEXT NOT NULL, order_id TEXT NOT NULL,
        customer_key TEXT, email TEXT, phone TEXT,
        created_utc INTEGER NOT NULL, updated_utc INTEGER NOT NULL,
        amount_units INTEGER NOT NULL, currency TEXT NOT NULL, status TEXT NOT NULL, channel TEXT,
        PRIMARY KEY (store, source, order_id)
    ) WITHOUT ROWID;
    CREATE INDEX orders_by_customer ON orders (store, customer_key);
    CREATE INDEX orders_by_guest_email ON orders (store, lower(trim(email))) WHERE customer_key IS NULL;
    CREATE TABLE cursors (
        store TEXT NOT NULL, source TEXT NOT NULL, since_utc INTEGER, cursor TEXT,
        PRIMARY KEY (store, source)
    );
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT, store TEXT NOT NULL, kind TEXT NOT NULL,
        started_utc INTEGER NOT NULL, ended_utc INTEGER, outcome TEXT NOT NULL,
        counts TEXT NOT NULL DEFAULT '{}', error TEXT
    );
    CREATE INDEX runs_by_store ON runs (store, id);
    CREATE TABLE snapshots (
        run_id INTEGER PRIMARY KEY, store TEXT NOT NULL, as_of TEXT NOT NULL, data BLOB NOT NULL
    );
    CREATE INDEX snapshots_by_store ON snapshots (store, run_id);
    CREATE TABLE sink_fields (
        store TEXT NOT NULL, sink TEXT NOT NULL, fields TEXT NOT NULL, PRIMARY KEY (store, sink)
    );
    CREATE TABLE sink_records (
        store TEXT NOT NULL, sink TEXT NOT NULL, customer_key TEXT NOT NULL,
        record TEXT NOT NULL, acked_run INTEGER NOT NULL,
        PRIMARY KEY (store, sink, customer_key)
    ) WITHOUT ROWID;
    CREATE TABLE outbox (
        store TEXT NOT NULL, sink TEXT NOT NULL, batch_id TEXT NOT NULL, run_id INTEGER NOT NULL,
        seq INTEGER NOT NULL, payload TEXT NOT NULL,
        PRIMARY KEY (store, sink, batch_id)
    );
    CREATE TABLE rejects (
        store TEXT NOT NULL, origin TEXT NOT NULL, origin_name TEXT NOT NULL, record_key TEXT NOT NULL,
        reason TEXT NOT NULL, fingerprint TEXT NOT NULL DEFAULT '', raw TEXT NOT NULL DEFAULT '{}',
        attempts INTEGER NOT NULL DEFAULT 1, first_run INTEGER, last_run INTEGER,
        PRIMARY KEY (store, origin, origin_name, record_key)
    );
    CREATE TABLE leases (
        store TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_utc REAL NOT NULL
    );
    """,
    # Bulk sources' orders as compressed Arrow tables (sync/ledger_snapshots.py).
    """
    CREATE TABLE order_snapshots (
        store TEXT NOT NULL, source TEXT NOT NULL, part INTEGER NOT NULL, orders INTEGER NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (store, source, part)
    );
    """,
    # The inputs of a store's last clean run, for skipping a sync nothing can change (sync/quiet.py).
    """
    CREATE TABLE quiet_inputs (
        store TEXT PRIMARY KEY, inputs_key TEXT NOT NULL, customers INTEGER NOT NULL
    );
    """,
    # Marketing consent per order as the source recorded it (1, 0 or NULL), for ad audiences; and
    # what a sink keeps for itself between runs (an ad platform's audience ids, sync/sink_memory.py).
    """
    ALTER TABLE orders ADD COLUMN email_consent INTEGER;
    ALTER TABLE orders ADD COLUMN sms_consent INTEGER;
    CREATE TABLE sink_memory (
        store TEXT NOT NULL, sink TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
        PRIMARY KEY (store, sink, key)
    );
    """,
    # Each customer's segment, the one before it and the day it changed (sync/segment_history.py).
    """
    CREATE TABLE segment_history (
        store TEXT NOT NULL, customer_key TEXT NOT NULL, segment TEXT NOT NULL,
        previous_segment TEXT NOT NULL, changed_on TEXT NOT NULL,
        PRIMARY KEY (store, customer_key)
    ) WITHOUT ROWID;
    CREATE TABLE segment_history_seeded (store TEXT PRIMARY KEY);
    """,
    # One customer across a store's sources (sync/identity.py); order webhooks taken once each
    # (sync/webhook_events.py); each order's channel class beside
    # the source's own detail, and its amount per product category (sync/order_filters.py). The
    # detail a row held as its channel moves; its class is read from the well-known details.
    """
    CREATE TABLE identity_nodes (
        store TEXT NOT NULL, source TEXT NOT NULL, source_key TEXT NOT NULL, customer_key TEXT NOT NULL,
        PRIMARY KEY (store, source, source_key)
    ) WITHOUT ROWID;
    CREATE TABLE identity_values (
        store TEXT NOT NULL, source TEXT NOT NULL, source_key TEXT NOT NULL, kind TEXT NOT NULL,
        raw TEXT NOT NULL, value TEXT,
        PRIMARY KEY (store, source, source_key, kind, raw)
    ) WITHOUT ROWID;
    CREATE INDEX identity_by_value ON identity_values (store, kind, value);
    CREATE TABLE webhook_events (
        store TEXT NOT NULL, source TEXT NOT NULL, event_id TEXT NOT NULL, received_utc INTEGER NOT NULL,
        outcome TEXT NOT NULL,
        PRIMARY KEY (store, source, event_id)
    ) WITHOUT ROWID;
    ALTER TABLE orders ADD COLUMN channel_detail TEXT;
    ALTER TABLE orders ADD COLUMN order_lines TEXT;
    UPDATE orders SET channel_detail = channel, channel = CASE
        WHEN channel IN ('web', 'checkout', 'store-api') THEN 'web'
        WHEN channel = 'pos' THEN 'pos'
        WHEN channel IS NULL THEN NULL ELSE 'other' END;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


class StateError(RfmsyncError):
    """The state file cannot be opened or is from a newer rfmsync."""


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


class Database:
    """One SQLite connection with explicit transactions (BEGIN IMMEDIATE takes the write lock up
    front, so two processes never both read-then-write the same rows)."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / STATE_FILE
        try:
            # The state holds every customer's email: the folder is the owner's alone (0700) and the
            # file 0600, which SQLite gives its -wal and -shm files too.
            if not state_dir.exists():  # two processes may both get here: exist_ok
                state_dir.mkdir(parents=True, mode=0o700, exist_ok=True)
            if not self.path.exists():
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
            # isolation_level=None: we issue BEGIN/COMMIT ourselves.
            self.conn = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
        except (OSError, sqlite3.Error) as exc:
            raise StateError(f"{self.path}: cannot open the state ({_reason(exc)})") from None
        try:
            self._enter_wal()
            # FULL makes every commit durable across a power cut, not only a process crash.
            self.conn.execute("PRAGMA synchronous=FULL")
            self.conn.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.Error as exc:
            self.conn.close()
            raise StateError(f"{self.path}: cannot use the state ({_reason(exc)}); rfmsync needs to write "
                             "the file and its folder") from None

    def _enter_wal(self) -> None:
        # Switching a new file to WAL takes an exclusive lock that SQLite's busy timeout does not
        # wait for: two processes opening a new state at once retry for a few seconds.
        for attempt in range(100):
            try:
                self.conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == 99:
                    raise
                time.sleep(0.05)

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def _migrate(self) -> None:
        with self.transaction() as conn:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                raise StateError(f"{self.path}: written by a newer rfmsync (schema {version}, this one "
                                 f"knows {SCHEMA_VERSION}); upgrade rfmsync")
            for number in range(version, SCHEMA_VERSION):
                for statement in MIGRATIONS[number].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number + 1}")

    @property
    def schema_version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])


def now_utc() -> float:
    return time.time()
