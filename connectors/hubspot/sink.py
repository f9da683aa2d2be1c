"""HubSpot: each customer's RFM fields as contact properties, and MANUAL list membership per segment.

- Contacts are found by email (batch read, 100 a call, ids kept for the process) and updated with
  batch upsert by email (100 inputs a call, each with its objectWriteTraceId, so one bad input is
  a 207 for that input, recorded as a reject, not a failed batch). Without `add_missing`, only
  existing contacts are sent: upsert would create the others, and created contacts may count as
  (billed) marketing contacts. Leaving every segment clears the properties (an empty string).
- The property group and properties are created on the first push when missing.
- Lists (`lists` by id, or `list_prefix`: one MANUAL list per segment, created once, id kept):
  moved is one add-and-remove per list touched; only MANUAL lists can be written.
- Subscription status is never touched: no opt-out, subscription or marketable-status property is
  written, and no communication-preferences call exists here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from rfmsync.connectors.base import ConfiguredSink, PushResult, SinkMemory
from rfmsync.connectors.hubspot.api import HubSpotApi
from rfmsync.connectors.hubspot.config import MAX_INPUTS, HubSpotSinkConfig
from rfmsync.connectors.profiles import email_of, list_moves
from rfmsync.connectors.retry import RetryPolicy
from rfmsync.core.diff import Change, ChangeKind
from rfmsync.core.errors import PermanentError
from rfmsync.core.fields import BY_NAME
from rfmsync.core.stopping import pause

NO_EMAIL = "no email address: HubSpot contacts are found by email"
NOT_A_CONTACT = "no HubSpot contact with this email (skipped; set add_missing to create contacts)"



class HubSpotSink(ConfiguredSink):
    config: HubSpotSinkConfig

    def __init__(self, config: HubSpotSinkConfig, *, retry: RetryPolicy | None = None,
                 sleep: Callable[[float], None] = pause, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.retry = retry or RetryPolicy()
        self.api = HubSpotApi(config.access_token.get_secret_value(), config.base_url, retry=self.retry,
                              timeout=config.timeout_seconds, per_10_seconds=config.requests_per_10_seconds,
                              daily_limit=config.daily_limit, sleep=sleep, clock=clock)
        self.memory: SinkMemory | None = None
        self._ids: dict[str, str] = {}
        self._ready = False

    def close(self) -> None:
        self.api.close()

    def set_segments(self, names: Sequence[str]) -> None:
        unknown = [s for s in self.config.lists or () if s not in names]
        if unknown:
            raise PermanentError(f"HubSpot sink {self.name}: lists names {unknown[0]!r}, which is not a segment of "
                                 f"the store's scheme ({', '.join(names)})", origin="hubspot")

    def attach_memory(self, memory: SinkMemory) -> None:
        self.memory = memory
        self.api.memory = memory

    def push(self, batch_id: str, changes: Sequence[Change]) -> PushResult:
        if not changes:
            return PushResult(accepted=[])
        if not self._ready:
            self.api.ensure_properties(self.config.property_group, {
                self.config.property_name(f): BY_NAME[f].label for f in self.fields})
            self._ready = True
        rejected = {c.customer_key: NO_EMAIL for c in changes if email_of(c) is None}
        with_email = [c for c in changes if email_of(c) is not None]
        unknown = [e for e in dict.fromkeys(email_of(c) for c in with_email) if e and e not in self._ids]
        if unknown:
            self._ids.update(self.api.contact_ids(unknown))
        skipped = {c.customer_key: NOT_A_CONTACT for c in with_email
                   if email_of(c) not in self._ids and not (self.config.add_missing and c.kind is not ChangeKind.LEFT)}
        sending = [c for c in with_email if c.customer_key not in skipped]
        for start in range(0, len(sending), MAX_INPUTS):
            chunk = sending[start:start + MAX_INPUTS]
            accepted, refused = self.api.upsert([self._input(c) for c in chunk])
            rejected.update(refused)
            for change in chunk:
                if change.customer_key in accepted:
                    self._ids[str(email_of(change))] = accepted[change.customer_key]
        done = [c for c in changes if c.customer_key not in rejected and c.customer_key not in skipped]
        self._lists(done)
        self.api.save_count()
        return PushResult(accepted=[c.customer_key for c in done], rejected=rejected, skipped=skipped)

    def preview(self, changes: Sequence[Change]) -> list[str]:
        names = ", ".join(self.config.property_name(f) for f in self.fields)
        lines = [f"{sum(1 for c in changes if c.kind is not ChangeKind.LEFT):>8,}  contacts: {names} set",
                 f"{sum(1 for c in changes if c.kind is ChangeKind.LEFT):>8,}  contacts: those properties cleared"]
        if self.config.lists is not None or self.config.list_prefix is not None:
            moves = list_moves(changes)
            for segment in sorted(moves):
                if self._wants_list(segment):
                    add, remove = moves[segment]
                    lines.append(f"{len(add):>8,} added, {len(remove):>8,} removed  list for {segment!r}")
        return lines

    def _input(self, change: Change) -> dict[str, Any]:
        # An empty string clears a property (§8.1): what leaving every segment does.
        values = {} if change.kind is ChangeKind.LEFT else change.fields
        return {"id": email_of(change), "idProperty": "email", "objectWriteTraceId": change.customer_key,
                "properties": {self.config.property_name(f): values.get(f, "") for f in self.fields}}

    def _wants_list(self, segment: str) -> bool:
        return self.config.list_prefix is not None or segment in (self.config.lists or {})

    def _list_id(self, segment: str) -> str:
        if self.config.lists is not None:
            return self.config.lists[segment]
        known = self.memory.get(f"list:{segment}") if self.memory else None
        if not known:
            known = self.api.list_id(f"{self.config.list_prefix}{segment}")
            if self.memory is not None:
                self.memory.put(f"list:{segment}", known)
        return known

    def _lists(self, changes: Sequence[Change]) -> None:
        if self.config.lists is None and self.config.list_prefix is None:
            return
        for segment, (add, remove) in sorted(list_moves(changes).items()):
            add_ids = [self._ids[e] for c in add if (e := email_of(c)) in self._ids]
            remove_ids = [self._ids[e] for c in remove if (e := email_of(c)) in self._ids]
            if self._wants_list(segment) and (add_ids or remove_ids):
                self.api.change_members(self._list_id(segment), add_ids, remove_ids, f"segment {segment!r}")

