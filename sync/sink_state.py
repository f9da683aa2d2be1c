"""Per-sink acknowledged records, the outbox of batches in flight, and rejected records.

A batch is written to the outbox before it is pushed and removed in the same transaction that
acknowledges what the platform accepted. A batch still in the outbox after a crash is pushed again,
with the same id and the same changes, before anything new: sinks are idempotent upserts and get
the id to drop exact replays.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from rfmsync.core.diff import Change, ChangeKind, Record
from rfmsync.sync.state import Database

# A record a platform refuses is offered again on later runs, but not forever: after this many
# refusals of the same change it waits until the customer's record changes.
MAX_REJECTED_ATTEMPTS = 3


def load_acknowledged(db: Database, store: str, sink: str, field_names: Sequence[str]) -> dict[str, Record]:
    """What this sink last accepted, as tuples in `field_names` order ("" for a field it never got)."""
    row = db.conn.execute("SELECT fields FROM sink_fields WHERE store = ? AND sink = ?", (store, sink)).fetchone()
    stored_names: list[str] = json.loads(row[0]) if row else list(field_names)
    position = {name: i for i, name in enumerate(stored_names)}
    remap = [position.get(name) for name in field_names]
    identity = remap == list(range(len(field_names)))
    rows = db.conn.execute("SELECT customer_key, record FROM sink_records WHERE store = ? AND sink = ?",
                           (store, sink)).fetchall()
    if not rows:
        return {}
    keys, records = zip(*rows, strict=True)
    # One json.loads of all records (each a JSON array) instead of one per customer: a third of the
    # cost for the 100,000 records a no-change run reads.
    values = json.loads("[" + ",".join(records) + "]")
    if identity:
        return dict(zip(keys, map(tuple, values), strict=True))
    return {key: tuple("" if i is None else v[i] for i in remap) for key, v in zip(keys, values, strict=True)}


# Characters a JSON string must escape (and non-ASCII, which json.dumps escapes by default).
_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x1f\x7f-\U0010ffff]')


def json_strings(values: Sequence[str]) -> str:
    """json.dumps of a list of strings, the same text, at a fifth of the cost for plain values
    (segment names, scores): a first run stores 100,000 records."""
    if _NEEDS_ESCAPE.search("".join(values)):
        return json.dumps(values)
    return '["' + '", "'.join(values) + '"]' if values else "[]"


def change_from_json(data: Mapping[str, object]) -> Change:
    fields = data.get("fields") or {}
    assert isinstance(fields, dict)
    return Change(customer_key=str(data["customer_key"]), kind=ChangeKind(str(data["kind"])),
                  old_segment=_opt(data.get("old_segment")), new_segment=_opt(data.get("new_segment")),
                  fields={str(k): str(v) for k, v in fields.items()}, email=_opt(data.get("email")),
                  phone=_opt(data.get("phone")))


def _opt(value: object) -> str | None:
    return None if value is None else str(value)


def fingerprint(change: Change) -> str:
    """Identifies what a change asks for, so a refused change is not offered forever."""
    text = json.dumps([change.kind.value, change.new_segment, sorted(change.fields.items())])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class PendingBatch:
    batch_id: str
    run_id: int
    changes: list[Change]


def _compact(changes: Sequence[Change]) -> str:
    """A batch as {"fields": names, "changes": [[key, kind, old, new, values, email, phone, before], ...]}:
    names once per batch rather than per change, which halves the cost of a 50,000-change batch.
    `before` (what the sink held) is kept too: a replayed removal must remove what was sent."""
    names = list(changes[0].fields) if changes else []
    rows = [[c.customer_key, c.kind.value, c.old_segment, c.new_segment,
             [c.fields.get(n, "") for n in names] if list(c.fields) == names else dict(c.fields), c.email, c.phone,
             None if c.before is None else dict(c.before)]
            for c in changes]
    return json.dumps({"fields": names, "changes": rows}, separators=(",", ":"))


def _expand(payload: str) -> list[Change]:
    data = json.loads(payload)
    if isinstance(data, list):  # written by an rfmsync before the compact form: one object per change
        return [change_from_json(c) for c in data]
    names = data["fields"]
    # Rows written before `before` was kept have seven elements.
    return [Change(customer_key=row[0], kind=ChangeKind(row[1]), old_segment=row[2], new_segment=row[3],
                   fields=dict(zip(names, row[4], strict=True)) if isinstance(row[4], list) else row[4],
                   email=row[5], phone=row[6], before=row[7] if len(row) > 7 else None)
            for row in data["changes"]]


def put_outbox(db: Database, store: str, sink: str, batch_id: str, run_id: int, seq: int,
               changes: Sequence[Change]) -> None:
    payload = _compact(changes)
    with db.transaction() as conn:
        conn.execute("INSERT OR REPLACE INTO outbox (store, sink, batch_id, run_id, seq, payload) "
                     "VALUES (?, ?, ?, ?, ?, ?)", (store, sink, batch_id, run_id, seq, payload))


def pending_batches(db: Database, store: str, sink: str) -> list[PendingBatch]:
    rows = db.conn.execute("SELECT batch_id, run_id, payload FROM outbox WHERE store = ? AND sink = ? "
                           "ORDER BY run_id, seq", (store, sink)).fetchall()
    return [PendingBatch(batch_id, run_id, _expand(payload)) for batch_id, run_id, payload in rows]


def acknowledge(db: Database, store: str, sink: str, field_names: Sequence[str], run_id: int, batch_id: str,
                changes: Sequence[Change], accepted: Iterable[str], rejected: Mapping[str, str],
                skipped: Mapping[str, str] | None = None) -> None:
    """Applies what the platform accepted, records what it refused, and closes the batch: one transaction."""
    accepted_keys = set(accepted)
    by_key = {c.customer_key: c for c in changes}
    with db.transaction() as conn:
        conn.execute("INSERT INTO sink_fields (store, sink, fields) VALUES (?, ?, ?) ON CONFLICT (store, sink) "
                     "DO UPDATE SET fields = excluded.fields", (store, sink, json.dumps(list(field_names))))
        removals = [(store, sink, k) for k in accepted_keys if by_key[k].kind is ChangeKind.LEFT]
        upserts = [(store, sink, k, json_strings([by_key[k].fields.get(n, "") for n in field_names]), run_id)
                   for k in accepted_keys if by_key[k].kind is not ChangeKind.LEFT]
        conn.executemany("DELETE FROM sink_records WHERE store = ? AND sink = ? AND customer_key = ?", removals)
        conn.executemany("INSERT INTO sink_records (store, sink, customer_key, record, acked_run) "
                         "VALUES (?, ?, ?, ?, ?) ON CONFLICT (store, sink, customer_key) DO UPDATE SET "
                         "record = excluded.record, acked_run = excluded.acked_run", upserts)
        conn.executemany("DELETE FROM rejects WHERE store = ? AND origin = 'sink' AND origin_name = ? "
                         "AND record_key = ?", [(store, sink, k) for k in accepted_keys])
        for key, reason in rejected.items():
            conn.execute(
                "INSERT INTO rejects (store, origin, origin_name, record_key, reason, fingerprint, first_run, "
                "last_run) VALUES (?, 'sink', ?, ?, ?, ?, ?, ?) ON CONFLICT (store, origin, origin_name, "
                "record_key) DO UPDATE SET reason = excluded.reason, last_run = excluded.last_run, "
                "attempts = CASE WHEN rejects.fingerprint = excluded.fingerprint THEN rejects.attempts + 1 "
                "ELSE 1 END, fingerprint = excluded.fingerprint",
                (store, sink, key, reason[:500], fingerprint(by_key[key]), run_id, run_id))
        # Skipped on purpose (not in the audience): held at once, offered again when the record changes.
        conn.executemany(
            "INSERT INTO rejects (store, origin, origin_name, record_key, reason, fingerprint, attempts, first_run, "
            "last_run) VALUES (?, 'sink', ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (store, origin, origin_name, record_key) "
            "DO UPDATE SET reason = excluded.reason, fingerprint = excluded.fingerprint, attempts = excluded.attempts, "
            "last_run = excluded.last_run",
            [(store, sink, key, reason[:500], fingerprint(by_key[key]), MAX_REJECTED_ATTEMPTS, run_id, run_id)
             for key, reason in (skipped or {}).items()])
        conn.execute("DELETE FROM outbox WHERE store = ? AND sink = ? AND batch_id = ?", (store, sink, batch_id))


def given_up(db: Database, store: str, sink: str) -> dict[str, str]:
    """Customer key -> fingerprint of changes refused MAX_REJECTED_ATTEMPTS times: skipped until they change."""
    rows = db.conn.execute("SELECT record_key, fingerprint FROM rejects WHERE store = ? AND origin = 'sink' "
                           "AND origin_name = ? AND attempts >= ?", (store, sink, MAX_REJECTED_ATTEMPTS))
    return dict(rows.fetchall())


def forget_sink(db: Database, store: str, sink: str) -> None:
    """For --full-resync: records the sink refused are offered again.

    What the sink acknowledged is kept: the resync diffs against it, so a customer who moved or
    left since is taken out of the old segment (a sink treated as new would never be told), and a
    resync killed half-way leaves the acknowledged records true for the next run to diff against.
    """
    with db.transaction() as conn:
        conn.execute("DELETE FROM rejects WHERE store = ? AND origin = 'sink' AND origin_name = ?", (store, sink))


def record_source_rejects(db: Database, store: str, source: str, run_id: int,
                          rejects: Sequence[tuple[str, str, Mapping[str, str]]]) -> None:
    """(position, reason, raw row): kept so nothing a source sent is silently dropped."""
    if not rejects:
        return
    with db.transaction() as conn:
        conn.executemany(
            "INSERT INTO rejects (store, origin, origin_name, record_key, reason, raw, first_run, last_run) "
            "VALUES (?, 'source', ?, ?, ?, ?, ?, ?) ON CONFLICT (store, origin, origin_name, record_key) DO "
            "UPDATE SET reason = excluded.reason, raw = excluded.raw, last_run = excluded.last_run, "
            "attempts = rejects.attempts + 1",
            [(store, source, position, reason, json.dumps(dict(raw)), run_id, run_id)
             for position, reason, raw in rejects])


def reject_reasons(db: Database, store: str) -> dict[tuple[str, str], int]:
    """Rejected records per (origin, reason), for reports."""
    rows = db.conn.execute("SELECT origin, reason, COUNT(*) FROM rejects WHERE store = ? GROUP BY origin, reason "
                           "ORDER BY COUNT(*) DESC", (store,))
    return {(origin, reason): n for origin, reason, n in rows.fetchall()}
