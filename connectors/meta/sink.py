"""Meta custom audiences: each segment's customers as one customer-file audience, changes only.

- Audiences are named `audience_prefix + segment`, created as CUSTOM with customer_file_source
  USER_PROVIDED_ONLY when missing (an existing one of that name is adopted), and their ids kept
  in the state.
- Members are rows of the multi-key schema ["EMAIL", "PHONE"], SHA-256 of Meta's normalization
  (connectors/identifiers.py), an identifier only with its recorded consent (ad_members.py).
- Entered: added; moved: removed from the old audience, added to the new; left: removed; a new
  email or consent: the old row removed, the new one added. Removals send exactly the row that was
  added (kept in the state), so a customer whose email changed is still taken out.
- Adds go 10,000 rows per POST; removals are DELETEs whose payload travels in the URL (§6.2,
  connections closed from ~300 rows), so they are cut to URLs under MAX_DELETE_URL.
- --full-resync replaces each audience through a usersreplace session (batch_seq from 1,
  last_batch_flag on the last request).
- The lookalike is created once, from the seed's audience, when rfmsync has sent it 100 members.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from rfmsync.connectors import ad_members, identifiers
from rfmsync.connectors.ad_members import AdAudienceSink
from rfmsync.connectors.base import Contact, PushResult, SinkMemory
from rfmsync.connectors.meta.api import GraphApi
from rfmsync.connectors.meta.config import MAX_ROWS, MetaSinkConfig
from rfmsync.connectors.retry import RetryPolicy
from rfmsync.core.diff import Change
from rfmsync.core.errors import PermanentError

log = logging.getLogger("rfmsync.connectors.meta")

SCHEMA = ["EMAIL", "PHONE"]
# Removal payloads ride in the DELETE's URL; Graph hangs up on long ones (~300 single-hash rows,
# about 20 KB, §6.2). Kept well under that, whatever the row width.
MAX_DELETE_URL = 12_000
DUPLICATE_LOOKALIKE = "2654"

Row = list[str]


class MetaSink(AdAudienceSink):
    config: MetaSinkConfig
    platform = "Meta"

    def __init__(self, config: MetaSinkConfig, *, consent_required: bool = True, retry: RetryPolicy | None = None
                 ) -> None:
        region = config.default_phone_region
        super().__init__(consent_required=consent_required, email=identifiers.meta_email,
                         phone=lambda phone: identifiers.meta_phone(phone, region))
        self.config = config
        self.retry = retry or RetryPolicy()
        self.api = GraphApi(config.access_token.get_secret_value(), config.base_url, config.api_version,
                            retry=self.retry, timeout=config.timeout_seconds,
                            throttle_wait=config.throttle_wait_seconds)
        self.memory: SinkMemory | None = None
        self.scheme_segments: tuple[str, ...] = ()
        self.invalid_entries = 0
        self._listed: dict[str, str] | None = None

    def close(self) -> None:
        self.api.close()

    # -- what the run loop asks ------------------------------------------------------------------
    def configured_segments(self) -> tuple[str, Sequence[str]] | None:
        return None if self.config.segments is None else ("segments", self.config.segments)

    def set_segments(self, names: Sequence[str]) -> None:
        super().set_segments(names)
        self.scheme_segments = tuple(names)

    def attach_memory(self, memory: SinkMemory) -> None:
        self.memory = memory

    def member(self, segment: str, contact: Contact) -> str:
        found = self.wanted_member(segment, contact)
        # Meta takes no consent field: what it gets was chosen by consent; the text carries only hashes.
        return "" if found is None else found.hashes()

    def push(self, batch_id: str, changes: Sequence[Change]) -> PushResult:
        adds, removes = _plan(changes)
        for segment, rows in removes.items():
            audience, name = self._audience(segment), self.config.audience_name(segment)
            for chunk in _url_chunks(rows):
                self._send("DELETE", audience, chunk, f"remove {len(chunk)} from {name!r}")
        for segment, rows in adds.items():
            audience, name = self._audience(segment), self.config.audience_name(segment)
            for start in range(0, len(rows), MAX_ROWS):
                chunk = rows[start:start + MAX_ROWS]
                self._send("POST", audience, chunk, f"add {len(chunk)} to {name!r}")
        return PushResult(accepted=[c.customer_key for c in changes])

    def replace(self, batch_id: str, members: Mapping[str, Sequence[str]]) -> None:
        segments = set(members) | {s for s in self._known_segments()}
        for segment in sorted(segments):
            rows = [row for text in members.get(segment, ()) for row in _rows(text)]
            name = self.config.audience_name(segment)
            audience = self._audience(segment)
            session_id = int.from_bytes(hashlib.sha256(f"{batch_id}:{audience}".encode()).digest()[:7], "big")
            chunks = [rows[i:i + MAX_ROWS] for i in range(0, len(rows), MAX_ROWS)] or [[]]
            for seq, chunk in enumerate(chunks, start=1):
                session = {"session_id": session_id, "batch_seq": seq, "last_batch_flag": seq == len(chunks),
                           "estimated_num_total": len(rows)}
                body = self.api.call("POST", f"{audience}/usersreplace",
                                     {"payload": {"schema": SCHEMA, "data": chunk}, "session": session},
                                     what=f"replace the members of {name!r} ({seq} of {len(chunks)})")
                self._count_invalid(body)

    def finish(self, sizes: Mapping[str, int]) -> list[str]:
        notes = []
        if self.invalid_entries:
            notes.append(f"Meta counted {self.invalid_entries} rows invalid (left out of the audiences)")
        lookalike = self.config.lookalike
        if lookalike is None or self.memory is None or self.memory.get("lookalike"):
            return notes
        seed_size = sizes.get(lookalike.seed, 0)
        if seed_size < ad_members.MINIMUM_SIZE:
            notes.append(f"lookalike not created yet: {lookalike.seed!r} has {seed_size} members, Meta needs "
                         f"{ad_members.MINIMUM_SIZE} in the seed")
            return notes
        seed = self._audience(lookalike.seed)
        name = f"{self.config.audience_prefix}Lookalike {lookalike.ratio:.0%} {lookalike.country.upper()} " \
               f"of {lookalike.seed}"
        params = {"name": name, "subtype": "LOOKALIKE", "origin_audience_id": seed,
                  "lookalike_spec": {"ratio": lookalike.ratio, "country": lookalike.country.upper()}}
        try:
            created = self.api.call("POST", f"{self.config.ad_account_id}/customaudiences", params,
                                    what="create the lookalike")
            self.memory.put("lookalike", str(created["id"]))
            notes.append(f"lookalike {name!r} created from {lookalike.seed!r} ({seed_size} members)")
        except PermanentError as exc:
            if exc.code != DUPLICATE_LOOKALIKE:
                raise
            self.memory.put("lookalike", "exists")
            notes.append(f"lookalike of {lookalike.seed!r} exists already on Meta (code 2654); kept as it is")
        return notes

    def preview(self, changes: Sequence[Change]) -> list[str]:
        adds, removes = _plan(changes)
        segments = sorted(set(adds) | set(removes))
        return [f"{len(adds.get(s, ())):>8,} added, {len(removes.get(s, ())):>8,} removed  "
                f"audience {self.config.audience_name(s)!r}" for s in segments]

    # -- the platform ----------------------------------------------------------------------------
    def _send(self, method: str, audience: str, rows: list[Row], what: str) -> None:
        body = self.api.call(method, f"{audience}/users", {"payload": {"schema": SCHEMA, "data": rows}}, what=what)
        self._count_invalid(body)

    def _count_invalid(self, body: Mapping[str, Any]) -> None:
        invalid = body.get("num_invalid_entries")
        if isinstance(invalid, int) and invalid > 0:
            # Counted only: invalid_entry_samples would quote what was sent.
            self.invalid_entries += invalid
            log.warning("Meta counted %d rows of a request invalid", invalid)

    def _known_segments(self) -> Iterator[str]:
        if self.memory is None:
            return
        for segment in self.config.segments or self.scheme_segments:
            if self.memory.get(f"audience:{segment}"):
                yield segment

    def _audience(self, segment: str) -> str:
        """The segment's audience id: remembered, else an audience of that name, else a new one."""
        key = f"audience:{segment}"
        known = self.memory.get(key) if self.memory is not None else None
        if known:
            return known
        name = self.config.audience_name(segment)
        existing = self._existing()
        found = existing.get(name)
        if found is None:
            created = self.api.call("POST", f"{self.config.ad_account_id}/customaudiences",
                                    {"name": name, "subtype": "CUSTOM", "customer_file_source": "USER_PROVIDED_ONLY",
                                     "description": f"rfmsync: customers in the RFM segment {segment}"},
                                    what=f"create audience {name!r} in {self.config.ad_account_id}")
            found = existing[name] = str(created["id"])
            log.info("created Meta audience %r (%s)", name, found)
        if self.memory is not None:
            self.memory.put(key, found)
        return found

    def _existing(self) -> dict[str, str]:
        """Custom audiences of the ad account by name, read once: a state that lost an id (a new
        state file, a crash right after creating) adopts its audience instead of making a twin."""
        if self._listed is not None:
            return self._listed
        listed: dict[str, str] = {}
        params: dict[str, Any] = {"fields": "id,name", "limit": "500"}
        try:
            for _ in range(100):
                page = self.api.call("GET", f"{self.config.ad_account_id}/customaudiences", params,
                                     what=f"list the audiences of {self.config.ad_account_id}")
                for item in page.get("data") or []:
                    if isinstance(item, dict) and item.get("name") and item.get("id"):
                        listed.setdefault(str(item["name"]), str(item["id"]))
                after = ((page.get("paging") or {}).get("cursors") or {}).get("after")
                if not after or not (page.get("paging") or {}).get("next"):
                    break
                params = {**params, "after": str(after)}
        except PermanentError as exc:
            # Listing is a convenience; creating the audience says clearly what is wrong, if anything.
            log.info("Meta: could not list the ad account's audiences (%s); creating as needed", exc.code)
        self._listed = listed
        return listed


def _rows(text: str) -> list[Row]:
    """A member's rows: its first email with its first phone, then the others paired in turn (a
    row with one key leaves the other empty, as the multi-key schema allows)."""
    member = ad_members.parse(text)
    return [[e, p] for e, p in itertools.zip_longest(member.email_hashes, member.phone_hashes, fillvalue="")]


def _plan(changes: Sequence[Change]) -> tuple[dict[str, list[Row]], dict[str, list[Row]]]:
    adds, removes = ad_members.plan(changes)
    return ({s: [row for t in texts for row in _rows(t)] for s, texts in adds.items()},
            {s: [row for t in texts for row in _rows(t)] for s, texts in removes.items()})

def _url_chunks(rows: list[Row]) -> Iterator[list[Row]]:
    """Rows cut so that each DELETE's query string stays under MAX_DELETE_URL."""
    chunk: list[Row] = []
    size = 0
    for row in rows:
        # A row's share of the URL-encoded payload: its JSON and a comma, percent-encoded.
        cost = len(urlencode({"x": '["' + '","'.join(row) + '"],'})) - 2
        if chunk and size + cost > MAX_DELETE_URL:
            yield chunk
            chunk, size = [], 0
        chunk.append(row)
        size += cost
    if chunk:
        yield chunk

