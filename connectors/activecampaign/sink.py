"""ActiveCampaign: each customer's RFM fields in custom fields on their contact, tags optional.

- Custom text fields (RFM segment, RFM cell, ...; personalization tags RFM_SEGMENT, ...) are created
  when missing. Contacts are found by email (one lookup each, or, for a large first push, one pass
  over all contacts, 100 a page); without `add_missing` only existing contacts are sent.
- Ten or more contacts go through the bulk importer (250 a request), polled until it completed;
  fewer get their field values one call each (ActiveCampaign's advice). Leaving every segment
  clears the fields.
- `tags = true` adds `tag_prefix + segment` on entering; removing the old tag costs two calls per
  contact (the contact's tag links, then a DELETE of the link), which is why the field is the
  default carrier of the segment.
- Never sends `subscribe` or `unsubscribe`, which change list status (§8.2), and every request is
  paced under the account's 5 a second.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from rfmsync.connectors.activecampaign.api import ActiveCampaignApi
from rfmsync.connectors.activecampaign.config import MAX_IMPORT, ActiveCampaignSinkConfig
from rfmsync.connectors.base import ConfiguredSink, PushResult
from rfmsync.connectors.profiles import email_of
from rfmsync.connectors.retry import RetryPolicy
from rfmsync.core.diff import Change, ChangeKind
from rfmsync.core.errors import TransientError
from rfmsync.core.fields import BY_NAME
from rfmsync.core.stopping import pause

NO_EMAIL = "no email address: ActiveCampaign contacts are found by email"
NOT_A_CONTACT = "no ActiveCampaign contact with this email (skipped; set add_missing to create contacts)"
BULK_FROM = 10  # ActiveCampaign: use the bulk importer from 10 contacts on (§8.2)
LIST_ALL_FROM = 200  # unknown emails in one push from which one pass over all contacts is cheaper



class ActiveCampaignSink(ConfiguredSink):
    config: ActiveCampaignSinkConfig

    def __init__(self, config: ActiveCampaignSinkConfig, *, retry: RetryPolicy | None = None,
                 sleep: Callable[[float], None] = pause, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self.api = ActiveCampaignApi(config.base_url, config.api_token.get_secret_value(), retry=self.retry,
                                     timeout=config.timeout_seconds, per_second=config.requests_per_second,
                                     sleep=sleep, clock=clock)
        self._ids: dict[str, str] = {}
        self._listed_all = False
        self._field_ids: dict[str, str] | None = None
        self._tag_ids: dict[str, str] = {}

    def close(self) -> None:
        self.api.close()

    def push(self, batch_id: str, changes: Sequence[Change]) -> PushResult:
        if not changes:
            return PushResult(accepted=[])
        fields = self._fields()
        rejected = {c.customer_key: NO_EMAIL for c in changes if email_of(c) is None}
        with_email = [c for c in changes if email_of(c) is not None]
        self._find([e for e in dict.fromkeys(email_of(c) for c in with_email) if e and e not in self._ids])
        skipped = {c.customer_key: NOT_A_CONTACT for c in with_email
                   if email_of(c) not in self._ids and not (self.config.add_missing and c.kind is not ChangeKind.LEFT)}
        sending = [c for c in with_email if c.customer_key not in skipped]
        sets = [c for c in sending if c.kind is not ChangeKind.LEFT]
        if len(sets) >= BULK_FROM:
            for start in range(0, len(sets), MAX_IMPORT):
                rejected.update(self._import(sets[start:start + MAX_IMPORT], fields))
        else:
            for change in sets:
                contact = self._contact(change)
                for field, field_id in fields.items():
                    self.api.set_field(contact, field_id, change.fields.get(field, ""))
                if self.config.tags and change.new_segment and change.kind is not ChangeKind.UPDATED:
                    self.api.add_tag(contact, self._tag(change.new_segment))
        for change in (c for c in sending if c.kind is ChangeKind.LEFT):
            for field_id in fields.values():
                self.api.set_field(self._ids[str(email_of(change))], field_id, "")
        if self.config.tags:
            for change in sending:
                if change.customer_key not in rejected and change.old_segment and change.kind in (
                        ChangeKind.MOVED, ChangeKind.LEFT):
                    self.api.remove_tag(self._contact(change), self._tag(change.old_segment))
        done = [c.customer_key for c in changes if c.customer_key not in rejected and c.customer_key not in skipped]
        return PushResult(accepted=done, rejected=rejected, skipped=skipped)

    def preview(self, changes: Sequence[Change]) -> list[str]:
        names = ", ".join(BY_NAME[f].label for f in self.fields)
        lines = [f"{sum(1 for c in changes if c.kind is not ChangeKind.LEFT):>8,}  contacts: fields {names} set",
                 f"{sum(1 for c in changes if c.kind is ChangeKind.LEFT):>8,}  contacts: those fields cleared"]
        if self.config.tags:
            removals = sum(1 for c in changes if c.old_segment and c.kind in (ChangeKind.MOVED, ChangeKind.LEFT))
            lines.append(f"{removals:>8,}  tags removed (2 requests each)")
        return lines

    def _fields(self) -> dict[str, str]:
        """Pushed field -> custom field id."""
        if self._field_ids is None:
            wanted = {self.config.perstag(f): BY_NAME[f].label for f in self.fields}
            ids = self.api.field_ids(wanted)
            self._field_ids = {f: ids[self.config.perstag(f)] for f in self.fields}
        return self._field_ids

    def _find(self, emails: Sequence[str]) -> None:
        if not emails:
            return
        if len(emails) >= LIST_ALL_FROM and not self._listed_all:
            self._ids.update(self.api.all_contacts())
            self._listed_all = True
            return
        for email in emails:
            found = self.api.contact_id(email)
            if found:
                self._ids[email] = found

    def _contact(self, change: Change) -> str:
        email = str(email_of(change))
        if email not in self._ids:  # created by a bulk import of this run
            found = self.api.contact_id(email)
            if found is None:
                raise TransientError("ActiveCampaign: a contact the bulk import created is not found yet; the "
                                     "batch is sent again on the next run", origin="activecampaign")
            self._ids[email] = found
        return self._ids[email]

    def _tag(self, segment: str) -> str:
        name = f"{self.config.tag_prefix}{segment}"
        if name not in self._tag_ids:
            self._tag_ids[name] = self.api.tag_id(name)
        return self._tag_ids[name]

    def _import(self, changes: Sequence[Change], fields: dict[str, str]) -> dict[str, str]:
        """One bulk import request, polled until completed; customer key -> reason of each failure."""
        contacts: list[dict[str, Any]] = []
        for change in changes:
            contact: dict[str, Any] = {"email": email_of(change), "fields": [
                {"id": int(field_id) if field_id.isdigit() else field_id, "value": change.fields.get(f, "")}
                for f, field_id in fields.items()]}
            if self.config.tags and change.new_segment and change.kind is not ChangeKind.UPDATED:
                contact["tags"] = [f"{self.config.tag_prefix}{change.new_segment}"]
            contacts.append(contact)
        batch = self.api.bulk_import(contacts)
        waited = 0.0
        while True:
            info = self.api.import_info(batch)
            if "complete" in str(info.get("status") or "").lower():
                break
            if waited >= self.config.max_wait_seconds:
                raise TransientError(f"ActiveCampaign: bulk import {batch} not completed after {waited:.0f} s; the "
                                     "batch is sent again on the next run", origin="activecampaign")
            self._sleep(self.config.poll_seconds)
            waited += max(self.config.poll_seconds, 0.001)
        by_email = {str(email_of(c)): c.customer_key for c in changes}
        refused = {}
        for failure in info.get("failure") or info.get("failures") or []:
            email = str(failure.get("email") if isinstance(failure, dict) else failure).strip().lower()
            if email in by_email:
                refused[by_email[email]] = "ActiveCampaign's bulk import refused the contact"
        return refused
