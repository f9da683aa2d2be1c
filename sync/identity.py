"""One customer across a store's sources: which source customers are the same person.

A source knows its own customers (a web shop's customer id, a point of sale's, a guest's email
when the store merges guests); a store with several sources needs one key per person. Rules:

- Within one source, the source decides: two of its customers are never merged here, and a
  customer holds at most one identity per source.
- Across sources, identities are matched by normalized email first, then by phone in E.164 (read
  with the store's `phone_region` when a number has no country code). A phone links two customers
  only if at most one of them has an email: two different emails behind one phone are usually
  two people sharing a landline or a shop's counter number.
- The match is stable: once an identity has a key it keeps it, whatever email a later order
  brings; two customers that both already have a key are never merged (their sinks hold each
  under its own key; merging would move tags between profiles mid-flight).
- A new customer's key is its source key, from the source listed first in the config; when another
  customer already holds that text (ids of two systems collide), "<source>:<source key>".

A store whose orders come from one source needs none of this and pays nothing: its keys are the
source's keys, as before this module existed. The mapping is kept in the state from the first run
with two sources on (tables identity_nodes and identity_values).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from rfmsync.connectors.identifiers import e164
from rfmsync.sync.state import Database

Node = tuple[str, str]  # (source name, the source's customer key)
# (source, source key, normalized email or None, phone as recorded or None): one per distinct pair seen.
Observed = tuple[str, str, str | None, str | None]


@dataclass(frozen=True)
class Identity:
    """How the ledger's source customers map to the store's customers."""

    # None: one source, every key is the source's own.
    by_node: dict[Node, str] | None = None
    nodes_by_key: dict[str, list[Node]] = field(default_factory=dict)
    # Customers with orders from more than one source.
    multi_source: int = 0
    # Identifiers seen in this run and not yet in the state (a dry run writes none).
    unwritten: dict[tuple[str, str, str, str], str | None] = field(default_factory=dict, repr=False)
    phone_region: str | None = None

    def key_of(self, source: str, source_key: str) -> str:
        if self.by_node is None:
            return source_key
        return self.by_node.get((source, source_key), source_key)


SINGLE_SOURCE = Identity()


def resolve(db: Database, store: str, observed: Iterable[Observed], source_order: Sequence[str],
            phone_region: str | None, *, write: bool = True) -> Identity:
    """The store's identity mapping after adding what `observed` holds that the state does not.

    Only what is new is matched: the identifiers of new identities, looked up by value (an index)
    among those already known. A run with nothing new reads the mapping and compares, nothing more.
    """
    seen = list(observed)
    stored_nodes: dict[Node, str] = {(s, k): c for s, k, c in db.conn.execute(
        "SELECT source, source_key, customer_key FROM identity_nodes WHERE store = ?", (store,))}
    if not stored_nodes and len({s for s, *_ in seen}) <= 1:
        return SINGLE_SOURCE
    known = {(s, k, kind, raw) for s, k, kind, raw in db.conn.execute(
        "SELECT source, source_key, kind, raw FROM identity_values WHERE store = ?", (store,))}
    new_values: dict[tuple[str, str, str, str], str | None] = {}
    nodes: set[Node] = set(stored_nodes)
    for source, key, email, phone in seen:
        nodes.add((source, key))
        if email and (source, key, "email", email) not in known:
            new_values[(source, key, "email", email)] = email
        if phone and (source, key, "phone", phone) not in known:
            new_values[(source, key, "phone", phone)] = e164(phone, phone_region)
    rank = _rank(source_order)
    new_nodes = sorted(nodes - stored_nodes.keys(), key=rank)
    assigned = _match(db, store, stored_nodes, new_nodes, new_values, rank) if new_nodes else {}
    if write and (assigned or new_values):
        with db.transaction() as conn:
            conn.executemany("INSERT INTO identity_nodes (store, source, source_key, customer_key) VALUES (?, ?, ?, ?)",
                             [(store, s, k, c) for (s, k), c in assigned.items()])
            conn.executemany("INSERT OR IGNORE INTO identity_values (store, source, source_key, kind, raw, value) "
                             "VALUES (?, ?, ?, ?, ?, ?)", [(store, *k, v) for k, v in new_values.items()])
    by_node = {**stored_nodes, **assigned}
    nodes_by_key: dict[str, list[Node]] = defaultdict(list)
    for node, key in by_node.items():
        nodes_by_key[key].append(node)
    several = sum(1 for held in nodes_by_key.values() if len(held) > 1 and len({s for s, _ in held}) > 1)
    return Identity(by_node, dict(nodes_by_key), several, {} if write else new_values, phone_region)


def identifiers(db: Database, store: str, identity: Identity, keys: Sequence[str],
                ) -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[str, ...]]]:
    """Every email and every phone (E.164 where it reads as one) known for each customer, from all
    their identities, for pushes; one read of the store's identifiers."""
    if identity.by_node is None or not keys:
        return {}, {}
    wanted = set(keys)
    emails: dict[str, list[str]] = defaultdict(list)
    phones: dict[str, list[str]] = defaultdict(list)
    rows = db.conn.execute("SELECT source, source_key, kind, raw, value FROM identity_values WHERE store = ? "
                           "ORDER BY source, source_key, kind, raw", (store,)).fetchall()
    rows += [(*k, v) for k, v in sorted(identity.unwritten.items())]
    for source, source_key, kind, raw, value in rows:
        customer = identity.by_node.get((source, source_key))
        if customer is None or customer not in wanted:
            continue
        bucket = emails if kind == "email" else phones
        text = raw if kind == "email" else (value or raw)
        if text not in bucket[customer]:
            bucket[customer].append(text)
    return {k: tuple(v) for k, v in emails.items()}, {k: tuple(v) for k, v in phones.items()}


def _rank(source_order: Sequence[str]) -> _NodeRank:
    return _NodeRank({name: i for i, name in enumerate(source_order)})


class _NodeRank:
    """Sort key of a node: its source's place in the config (sources no longer configured after,
    by name), then its key."""

    def __init__(self, places: dict[str, int]) -> None:
        self.places = places

    def __call__(self, node: Node) -> tuple[int, str, str]:
        return (self.places.get(node[0], len(self.places)), node[0], node[1])


class _Components:
    """Union-find over customers: keyed ones (one element per existing key) and new identities."""

    def __init__(self) -> None:
        self.parent: dict[object, object] = {}
        self.sources: dict[object, set[str]] = {}
        self.has_email: dict[object, bool] = {}
        self.key: dict[object, str | None] = {}

    def add(self, element: object, sources: set[str], has_email: bool, key: str | None) -> None:
        if element not in self.parent:
            self.parent[element] = element
            self.sources[element], self.has_email[element], self.key[element] = set(sources), has_email, key

    def find(self, element: object) -> object:
        root = element
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[element] != root:
            self.parent[element], element = root, self.parent[element]
        return root

    def join(self, a: object, b: object, *, by_phone: bool) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb or (self.key[ra] is not None and self.key[rb] is not None):
            return
        if self.sources[ra] & self.sources[rb] or (by_phone and self.has_email[ra] and self.has_email[rb]):
            return
        if self.key[ra] is None:
            ra, rb = rb, ra  # the keyed side (if any) stays the root
        self.parent[rb] = ra
        self.sources[ra] |= self.sources[rb]
        self.has_email[ra] = self.has_email[ra] or self.has_email[rb]


def _stored_with(db: Database, store: str, wanted: set[tuple[str, str]]) -> list[tuple[str, str, str, str]]:
    """(source, source key, kind, value) of the stored identifiers with one of the wanted values."""
    found: list[tuple[str, str, str, str]] = []
    for kind in ("email", "phone"):
        values = sorted(v for k, v in wanted if k == kind)
        for start in range(0, len(values), 500):
            chunk = values[start:start + 500]
            found += db.conn.execute(
                f"SELECT source, source_key, kind, value FROM identity_values WHERE store = ? AND kind = ? AND "
                f"value IN ({','.join('?' * len(chunk))})", (store, kind, *chunk)).fetchall()
    return found


def _with_email(db: Database, store: str, nodes: Iterable[Node]) -> set[Node]:
    found: set[Node] = set()
    for source, key in nodes:
        if db.conn.execute("SELECT 1 FROM identity_values WHERE store = ? AND source = ? AND source_key = ? AND "
                           "kind = 'email' LIMIT 1", (store, source, key)).fetchone():
            found.add((source, key))
    return found


def _match(db: Database, store: str, stored_nodes: dict[Node, str], new_nodes: Sequence[Node],
           new_values: dict[tuple[str, str, str, str], str | None], rank: _NodeRank) -> dict[Node, str]:
    """Keys for the new identities: a keyed customer's they match, or a new one."""
    new = set(new_nodes)
    by_value: dict[tuple[str, str], set[Node]] = defaultdict(set)
    has_email: set[Node] = set()
    for (source, key, kind, _raw), value in new_values.items():
        if value is not None:
            by_value[(kind, value)].add((source, key))
            if kind == "email":
                has_email.add((source, key))
    needed = {kv for kv, members in by_value.items() if members & new}
    for source, key, kind, value in _stored_with(db, store, needed):
        by_value[(kind, value)].add((source, key))
    # Keyed customers a new identity may join: each is one element, with all its sources and
    # whether any of its identities has an email.
    touched = {stored_nodes[n] for kv in needed for n in by_value[kv] if n in stored_nodes}
    key_nodes: dict[str, list[Node]] = defaultdict(list)
    for node, customer in stored_nodes.items():
        if customer in touched:
            key_nodes[customer].append(node)
    has_email |= _with_email(db, store, [n for held in key_nodes.values() for n in held if n not in has_email])
    components = _Components()

    def element(node: Node) -> object:
        if node in new:
            components.add(node, {node[0]}, node in has_email, None)
            return node
        customer = stored_nodes[node]
        held = key_nodes[customer]
        components.add(("key", customer), {s for s, _ in held}, any(n in has_email for n in held), customer)
        return ("key", customer)

    for kind in ("email", "phone"):
        for value_kind, value in sorted(needed):
            if value_kind != kind:
                continue
            # Keyed customers first (they anchor), then new identities in config order.
            ordered = sorted(by_value[(kind, value)], key=lambda n: (n in new, rank(n)))
            first = element(ordered[0])
            for node in ordered[1:]:
                components.join(first, element(node), by_phone=kind == "phone")
    taken = set(stored_nodes.values())
    assigned: dict[Node, str] = {}
    for node in new_nodes:  # in rank order: the first node of a new customer names it
        root = components.find(element(node))
        held_key = components.key[root]
        if held_key is None:
            held_key = _free_key(node, taken)
            taken.add(held_key)
            components.key[root] = held_key
        assigned[node] = held_key
    return assigned


def _free_key(node: Node, taken: set[str]) -> str:
    source, key = node
    if key not in taken:
        return key
    candidate, n = f"{source}:{key}", 2
    while candidate in taken:
        candidate, n = f"{source}:{key}#{n}", n + 1
    return candidate
