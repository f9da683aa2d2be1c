"""Klaviyo: each customer's RFM fields as profile properties, and list membership per segment.

- Properties are `property_prefix + field` (rfm_segment, rfm_cell, ...) on existing profiles, found
  by email (100 a lookup, ids kept for the process). A batch with `bulk_threshold` profile updates
  or more goes as one bulk import job, polled until complete, its per-row import errors recorded
  as rejects with their code and title; smaller ones are PATCHed profile by profile. A customer who
  leaves every segment has the properties cleared with `patch_properties.unset` (a bulk import
  cannot clear a property, §5.2).
- Lists (`lists` by id, or one list per segment from `list_prefix`, created if missing): entered is
  added to its segment's list, moved is removed from the old list and added to the new, left is
  removed; at most 1,000 profiles a call.
- Consent is never touched: no subscribe, unsubscribe or suppression call exists here, and the
  profile payloads carry no subscription. Customers without a profile are skipped (Klaviyo bills by
  profile) unless `add_missing = true`, which creates them through the bulk import, without consent.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from rfmsync.connectors.base import ConfiguredSink, PushResult, SinkMemory
from rfmsync.connectors.klaviyo.api import KlaviyoApi
from rfmsync.connectors.klaviyo.config import KlaviyoSinkConfig
from rfmsync.connectors.profiles import email_of, list_moves
from rfmsync.connectors.retry import RetryPolicy
from rfmsync.core.diff import Change, ChangeKind
from rfmsync.core.errors import PermanentError, TransientError
from rfmsync.core.stopping import pause

log = logging.getLogger("rfmsync.connectors.klaviyo")

NO_EMAIL = "no email address: Klaviyo profiles are found by email"
NOT_A_PROFILE = "no Klaviyo profile with this email (skipped; set add_missing to create profiles)"



class KlaviyoSink(ConfiguredSink):
    config: KlaviyoSinkConfig

    def __init__(self, config: KlaviyoSinkConfig, *, retry: RetryPolicy | None = None,
                 sleep: Callable[[float], None] = pause, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self.api = KlaviyoApi(config.api_key.get_secret_value(), config.revision, config.base_url, retry=self.retry,
                              timeout=config.timeout_seconds, sleep=sleep, clock=clock)
        self.memory: SinkMemory | None = None
        self._ids: dict[str, str] = {}
        self._list_ids: dict[str, str] = {}

    def close(self) -> None:
        self.api.close()

    def set_segments(self, names: Sequence[str]) -> None:
        unknown = [s for s in self.config.lists or () if s not in names]
        if unknown:
            raise PermanentError(f"Klaviyo sink {self.name}: lists names {unknown[0]!r}, which is not a segment of "
                                 f"the store's scheme ({', '.join(names)})", origin="klaviyo")

    def attach_memory(self, memory: SinkMemory) -> None:
        self.memory = memory

    def push(self, batch_id: str, changes: Sequence[Change]) -> PushResult:
        if not changes:
            return PushResult(accepted=[])
        rejected: dict[str, str] = {}
        skipped: dict[str, str] = {}
        with_email = []
        for change in changes:
            if email_of(change) is None:
                rejected[change.customer_key] = NO_EMAIL
            else:
                with_email.append(change)
        self._look_up([e for e in dict.fromkeys(email_of(c) for c in with_email) if e and e not in self._ids])
        present = [c for c in with_email if email_of(c) in self._ids]
        missing = [c for c in with_email if email_of(c) not in self._ids]
        creates: list[Change] = []
        if self.config.add_missing:
            creates = [c for c in missing if c.kind is not ChangeKind.LEFT]
            skipped.update({c.customer_key: "left every segment before a profile existed" for c in missing
                            if c.kind is ChangeKind.LEFT})
        else:
            skipped.update({c.customer_key: NOT_A_PROFILE for c in missing})
        sets = [c for c in present if c.kind is not ChangeKind.LEFT]
        if creates or len(sets) >= self.config.bulk_threshold:
            rejected.update(self._bulk_import([*sets, *creates]))
            if creates:
                self._look_up([e for c in creates if (e := email_of(c)) and c.customer_key not in rejected])
        else:
            for change in sets:
                self._patch(change, self._properties(change), (), skipped)
        unset = [self.config.property_name(f) for f in self.fields]
        for change in (c for c in present if c.kind is ChangeKind.LEFT):
            self._patch(change, {}, unset, skipped)
        done = [c for c in changes if c.customer_key not in rejected and c.customer_key not in skipped]
        self._lists(done)
        return PushResult(accepted=[c.customer_key for c in done], rejected=rejected, skipped=skipped)

    def preview(self, changes: Sequence[Change]) -> list[str]:
        lines = [f"{sum(1 for c in changes if c.kind is not ChangeKind.LEFT):>8,}  profiles: "
                 f"{', '.join(self.config.property_name(f) for f in self.fields)} set",
                 f"{sum(1 for c in changes if c.kind is ChangeKind.LEFT):>8,}  profiles: those properties cleared"]
        if self.config.lists is not None or self.config.list_prefix is not None:
            for segment, (add, remove) in sorted(list_moves(changes).items()):
                if self._wants_list(segment):
                    lines.append(f"{len(add):>8,} added, {len(remove):>8,} removed  list for {segment!r}")
        return lines

    # -- profiles ----------------------------------------------------------------------------------
    def _look_up(self, emails: Sequence[str]) -> None:
        if emails:
            self._ids.update(self.api.profile_ids(emails))

    def _properties(self, change: Change) -> dict[str, str]:
        return {self.config.property_name(f): change.fields.get(f, "") for f in self.fields}

    def _patch(self, change: Change, properties: dict[str, str], unset: Sequence[str], skipped: dict[str, str]) -> None:
        email = email_of(change)
        assert email is not None
        if self.api.patch_profile(self._ids[email], properties, unset) == 404:
            # Deleted in Klaviyo since it was looked up.
            del self._ids[email]
            skipped[change.customer_key] = NOT_A_PROFILE

    def _bulk_import(self, changes: Sequence[Change]) -> dict[str, str]:
        """One job for the batch; customer key -> reason for each row Klaviyo refused."""
        profiles: list[dict[str, Any]] = [{"type": "profile", "attributes": {
            "email": email_of(c), "properties": self._properties(c)}} for c in changes]
        job = self.api.start_import(profiles)
        waited = 0.0
        while (status := self.api.job_status(job)) != "complete":
            if status == "cancelled":
                raise TransientError(f"Klaviyo: bulk import job {job} was cancelled; the batch is sent again on the "
                                     "next run", origin="klaviyo")
            if waited >= self.config.max_wait_seconds:
                raise TransientError(f"Klaviyo: bulk import job {job} still {status or 'pending'} after "
                                     f"{waited:.0f} s; the batch is sent again on the next run", origin="klaviyo")
            self._sleep(self.config.poll_seconds)
            waited += max(self.config.poll_seconds, 0.001)
        refused: dict[str, str] = {}
        for error in self.api.import_errors(job):
            attributes = error.get("attributes") or {}
            pointer = str((attributes.get("source") or {}).get("pointer") or "")
            index = pointer.rsplit("/", 1)[-1]
            if index.isdigit() and int(index) < len(changes):
                # Code and title only: the detail and the original payload quote the email.
                refused[changes[int(index)].customer_key] = (
                    f"Klaviyo refused the profile: {str(attributes.get('code') or 'error')[:40]} "
                    f"{str(attributes.get('title') or '')[:80]}").strip()
        if refused:
            log.info("Klaviyo bulk import job %s: %d rows refused", job, len(refused))
        return refused

    # -- lists -------------------------------------------------------------------------------------
    def _wants_list(self, segment: str) -> bool:
        return self.config.list_prefix is not None or segment in (self.config.lists or {})

    def _list_id(self, segment: str) -> str:
        if self.config.lists is not None:
            return self.config.lists[segment]
        known = self._list_ids.get(segment) or (self.memory.get(f"list:{segment}") if self.memory else None)
        if not known:
            known = self.api.find_or_create_list(f"{self.config.list_prefix}{segment}")
            if self.memory is not None:
                self.memory.put(f"list:{segment}", known)
        self._list_ids[segment] = known
        return known

    def _lists(self, changes: Sequence[Change]) -> None:
        if self.config.lists is None and self.config.list_prefix is None:
            return
        moves = sorted(list_moves(changes).items())
        # Removals first, then adds: Klaviyo has one call for each (1,000 profiles a call).
        for adding in (False, True):
            for segment, (add, remove) in moves:
                ids = [self._ids[e] for c in (add if adding else remove) if (e := email_of(c)) in self._ids]
                if self._wants_list(segment) and ids:
                    self.api.list_members(self._list_id(segment), ids, add=adding, what=f"segment {segment!r}")

