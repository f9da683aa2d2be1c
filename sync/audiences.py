"""The run loop's side of ad audiences (connectors.base.AudienceSink): what each customer's member
text is now, each audience's size as sent, and the acknowledgement of a full replace."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rfmsync.connectors.base import AUDIENCE_FIELDS, AudienceSink, Contact
from rfmsync.core.diff import Change, Record
from rfmsync.core.fields import current_records
from rfmsync.core.rfm import ScoredCustomers
from rfmsync.sync.contacts import audience_contacts
from rfmsync.sync.ledger import Ledger
from rfmsync.sync.sink_state import json_strings
from rfmsync.sync.state import Database

_NOBODY = Contact(None, None)


@dataclass
class RunContacts:
    """Every segmented customer's segment and contact, read once per run for all ad sinks (a full
    scan of the ledger: four columns, each customer's newest value)."""

    segments: dict[str, str]
    contacts: dict[str, Contact]


def run_contacts(db: Database, store: str, scored: ScoredCustomers, ledger: Ledger | None) -> RunContacts:
    segments = {key: segment for key, (segment,) in current_records(scored, ["segment"]).items() if segment}
    return RunContacts(segments, audience_contacts(db, store, list(segments), ledger=ledger))


def current_members(sink: AudienceSink, known: RunContacts) -> tuple[dict[str, Record], int]:
    """Customer key -> (segment, member text) for every customer the sink would hold, and how many
    customers in a segment it would not (no usable identifier, or none with consent)."""
    segments, contacts = known.segments, known.contacts
    member = sink.member
    records: dict[str, Record] = {}
    for key, segment in segments.items():
        text = member(segment, contacts.get(key, _NOBODY))
        if text:
            records[key] = (segment, text)
    return records, len(segments) - len(records)


def by_segment(records: Mapping[str, Record]) -> dict[str, list[str]]:
    members: dict[str, list[str]] = {}
    for segment, text in records.values():
        members.setdefault(segment, []).append(text)
    return members


def audience_order(changes: Sequence[Change]) -> list[Change]:
    """Changes grouped by the audiences they touch, so that a batch mostly fills one request per
    audience instead of spreading over all of them (fewer requests against per-request row limits)."""
    return sorted(changes, key=lambda c: (c.new_segment or "", c.old_segment or "", c.customer_key))


def sizes(db: Database, store: str, sink: str) -> dict[str, int]:
    """Each segment's audience size as rfmsync sent it: the members the platform acknowledged."""
    rows = db.conn.execute("SELECT json_extract(record, '$[0]') AS segment, COUNT(*) FROM sink_records "
                           "WHERE store = ? AND sink = ? GROUP BY segment ORDER BY segment", (store, sink)).fetchall()
    return {str(segment): int(n) for segment, n in rows if segment}


def acknowledge_replace(db: Database, store: str, sink: str, run_id: int, records: Mapping[str, Record]) -> None:
    """After a full replace the platform holds exactly `records`: so does the state, in one transaction."""
    with db.transaction() as conn:
        conn.execute("INSERT INTO sink_fields (store, sink, fields) VALUES (?, ?, ?) ON CONFLICT (store, sink) "
                     "DO UPDATE SET fields = excluded.fields", (store, sink, json.dumps(list(AUDIENCE_FIELDS))))
        conn.execute("DELETE FROM sink_records WHERE store = ? AND sink = ?", (store, sink))
        conn.executemany("INSERT INTO sink_records (store, sink, customer_key, record, acked_run) "
                         "VALUES (?, ?, ?, ?, ?)",
                         [(store, sink, key, json_strings(list(record)), run_id) for key, record in records.items()])
        conn.execute("DELETE FROM outbox WHERE store = ? AND sink = ?", (store, sink))
        conn.execute("DELETE FROM rejects WHERE store = ? AND origin = 'sink' AND origin_name = ?", (store, sink))
