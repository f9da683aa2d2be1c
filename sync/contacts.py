"""Customers' emails, phones and consent from the ledger, for the sinks that are about to get them.

Each value comes from the customer's most recently updated order that records it, over every
source identity the customer has (sync/identity.py). Only the customers a sink is about to be sent
are looked up, through the indexes on customer id and guest email, so a run with few changes reads
few rows; past BULK_CONTACTS one scan of the ledger is cheaper. Snapshots are filtered in Arrow.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pyarrow as pa
import pyarrow.compute as pc
from rfmsync.connectors.base import Contact
from rfmsync.connectors.identifiers import e164
from rfmsync.sync import ledger_snapshots as snapshots
from rfmsync.sync.identity import SINGLE_SOURCE, Identity, identifiers
from rfmsync.sync.ledger import SOURCE_KEY, Ledger
from rfmsync.sync.state import Database

# Past this many customers one scan of the ledger beats chunked index look-ups (measured on 1M orders:
# 100k look-ups 5.6 s, one scan 1.4 s).
BULK_CONTACTS = 10_000


def contacts_for(db: Database, store: str, keys: Sequence[str], *, ledger: Ledger | None = None,
                 ) -> dict[str, tuple[str | None, str | None]]:
    """Email and phone of each customer, each from their most recently updated order that has one."""
    found = _newest(db, store, keys, ("email", "phone"), ledger)
    return {key: (_str(v[0]), _str(v[1])) for key, v in found.items()}


def audience_contacts(db: Database, store: str, keys: Sequence[str], *, ledger: Ledger | None = None,
                      ) -> dict[str, Contact]:
    """Email, phone and the consent of each, each from the customer's most recently updated order
    that records it (consent is the customer's as of that order; an older order's refusal does not
    outlive a newer grant, nor the other way round), and every other email and phone the customer
    is known by in the store's other sources."""
    found = _newest(db, store, keys, ("email", "phone", "email_consent", "sms_consent"), ledger)
    identity = ledger.identity if ledger else SINGLE_SOURCE
    emails, phones = identifiers(db, store, identity, keys)
    contacts: dict[str, Contact] = {}
    for key, v in found.items():
        email, phone = _str(v[0]), _str(v[1])
        same_phone = e164(phone, identity.phone_region) if phone else None
        contacts[key] = Contact(email, phone, _bool(v[2]), _bool(v[3]), _others(emails.get(key, ()), email),
                                tuple(p for p in phones.get(key, ()) if p not in (phone, same_phone)))
    return contacts


def _others(known: Sequence[str], primary: str | None) -> tuple[str, ...]:
    first = (primary or "").strip().lower()
    return tuple(value for value in known if value != first)


def _str(value: object) -> str | None:
    return None if value is None else str(value)


def _bool(value: object) -> bool | None:
    return None if value is None else bool(value)


Held = dict[str, list[tuple[object, int] | None]]


def _newest(db: Database, store: str, keys: Sequence[str], columns: Sequence[str], ledger: Ledger | None,
            ) -> dict[str, list[object]]:
    """Per customer, each column's value from their most recently updated order that has one."""
    if not keys:
        return {}
    identity = ledger.identity if ledger else SINGLE_SOURCE
    merge = ledger.merge_guests_by_email if ledger else False
    wanted = set(keys)
    raw_keys = (sorted({raw for key in keys for _, raw in identity.nodes_by_key.get(key, ())})
                if identity.by_node is not None else list(keys))
    newest: Held = {}
    bulk = len(raw_keys) > BULK_CONTACTS
    by_id = [k for k in raw_keys if not k.startswith("email:")]
    guests = [k.removeprefix("email:") for k in raw_keys if k.startswith("email:")] if merge else []
    width = len(columns)
    for slot, column in enumerate(columns):
        found = (_all_rows_newest(db, store, int(merge), column) if bulk
                 else _rows_newest(db, store, column, by_id, guests))
        for source, raw, value, updated in found:
            key = identity.key_of(source, raw)
            if key in wanted:
                _keep_newer(newest, key, slot, value, updated, width)
    table = snapshots.read_store(db, store)
    if table is not None:
        snapshot_keys = customer_keys(table, identity, merge)
        if not bulk:
            asked = pc.fill_null(pc.is_in(snapshot_keys, value_set=pa.array(list(keys), type=pa.string())), False)
            table, snapshot_keys = table.filter(asked), snapshot_keys.filter(asked)
        for slot, column in enumerate(columns):
            for key, value, updated in snapshots.newest_values(table, snapshot_keys, column):
                _keep_newer(newest, key, slot, value, updated, width)
    return {key: [held[0] if held else None for held in pair] for key, pair in newest.items()}


def customer_keys(table: pa.Table, identity: Identity, merge_guests_by_email: bool) -> pa.Array:
    """Each snapshot order's store customer key (null when it has none)."""
    raw = snapshots.customer_keys(table, merge_guests_by_email)
    if identity.by_node is None:
        return raw
    nodes = pc.binary_join_element_wise(table["source"].combine_chunks(), raw, "\x1f").dictionary_encode()
    mapped = [identity.key_of(*node.split("\x1f", 1)) for node in nodes.dictionary.to_pylist()]
    return pa.array(mapped, type=pa.string()).take(nodes.indices)


def _keep_newer(newest: Held, key: str, slot: int, value: object, updated: int, width: int) -> None:
    pair = newest.get(key)
    if pair is None:
        pair = newest[key] = [None] * width
    held = pair[slot]
    if held is None or updated >= held[1]:
        pair[slot] = (value, updated)


def _rows_newest(db: Database, store: str, column: str, by_id: Sequence[str], guests: Sequence[str]
                 ) -> Iterator[tuple[str, str, object, int]]:
    present = _present(column)
    for start in range(0, len(by_id), 500):  # SQLite's default limit on bound parameters is 999+
        chunk = by_id[start:start + 500]
        # SQLite takes the bare column from the row holding MAX(): the newest order's value.
        query = (f"SELECT source, customer_key, {column}, MAX(updated_utc) FROM orders WHERE store = ? AND "
                 f"customer_key IN ({','.join('?' * len(chunk))}) AND {present} GROUP BY source, customer_key")
        yield from db.conn.execute(query, (store, *chunk))
    for start in range(0, len(guests), 500):
        chunk = guests[start:start + 500]
        query = (f"SELECT source, 'email:' || lower(trim(email)) AS g, {column}, MAX(updated_utc) FROM orders "
                 f"WHERE store = ? AND customer_key IS NULL AND lower(trim(email)) IN ({','.join('?' * len(chunk))})"
                 f" AND {present} GROUP BY source, g")
        yield from db.conn.execute(query, (store, *chunk))


def _present(column: str) -> str:
    # Text columns hold "" for nothing in rows written by older versions; consent is 0, 1 or NULL.
    return f"{column} IS NOT NULL" if column.endswith("_consent") else f"{column} IS NOT NULL AND {column} != ''"


def _all_rows_newest(db: Database, store: str, merge: int, column: str) -> Iterator[tuple[str, str, object, int]]:
    query = (f"SELECT source, {SOURCE_KEY} AS key, {column}, MAX(updated_utc) FROM orders WHERE store = ? AND "
             f"{_present(column)} GROUP BY source, key HAVING key IS NOT NULL")
    yield from db.conn.execute(query, (merge, store))


def customers_without_email(db: Database, store: str, ledger: Ledger) -> int:
    """Scorable customers none of whose orders carries an email (for reports; reads every order)."""
    identity = ledger.identity
    has_email: dict[str, bool] = {}
    for source, raw, flag in db.conn.execute(
            f"SELECT source, {SOURCE_KEY} AS key, MAX(email IS NOT NULL AND trim(email) != '') FROM orders "
            "WHERE store = ? GROUP BY source, key HAVING key IS NOT NULL", (int(ledger.merge_guests_by_email), store)):
        key = identity.key_of(source, raw)
        has_email[key] = has_email.get(key, False) or bool(flag)
    table = snapshots.read_store(db, store)
    if table is not None:
        snapshot_keys = customer_keys(table, identity, ledger.merge_guests_by_email)
        for key in pc.unique(snapshot_keys.filter(pc.is_valid(snapshot_keys))).to_pylist():
            has_email.setdefault(key, False)
        # As the SQL above: an email of only spaces is no email.
        present = pc.fill_null(pc.greater(pc.utf8_length(pc.utf8_trim(table["email"], characters=" ")), 0), False)
        for key in pc.unique(snapshot_keys.filter(pc.and_(present, pc.is_valid(snapshot_keys)))).to_pylist():
            has_email[key] = True
    return sum(1 for flag in has_email.values() if not flag)
