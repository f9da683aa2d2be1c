"""Google Customer Match through the Data Manager API: each configured segment's customers in its
user list, changes only.

- Members are the SHA-256 (hex) of Google's normalization (Gmail dots and +tags removed, phones in
  E.164; connectors/identifiers.py), an identifier only with its recorded consent, and the member's
  `consent` (adUserData, adPersonalization) exactly as recorded: granted, denied, or left out.
- Entered: ingested; moved: removed from the old list, ingested into the new; left: removed; a new
  email or consent: the old identifiers removed, the new ones ingested. Removals wait until they
  are applied before anything is ingested, so a shared identifier is never removed after its re-add.
- Up to 10,000 members per request, paced under the 300 requests/minute quota; every request is
  asynchronous, and a batch is acknowledged only once `requestStatus` says SUCCESS for all of it.
- --full-resync: `removeAll` on every list (one request, up to 10 lists), then everyone ingested.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import requests
from rfmsync.connectors import ad_members, identifiers
from rfmsync.connectors.ad_members import AdAudienceSink
from rfmsync.connectors.base import Contact, PushResult, SinkMemory
from rfmsync.connectors.google.api import DataManagerApi, Token
from rfmsync.connectors.google.config import MAX_MEMBERS, GoogleSinkConfig
from rfmsync.connectors.pacing import RateWindows
from rfmsync.connectors.retry import RetryPolicy
from rfmsync.core.diff import Change
from rfmsync.core.errors import PermanentError, TransientError
from rfmsync.core.stopping import pause

log = logging.getLogger("rfmsync.connectors.google")

MAX_DESTINATIONS = 10
_CONSENT = {True: "CONSENT_GRANTED", False: "CONSENT_DENIED"}
_DONE = ("SUCCESS", "PARTIAL_SUCCESS")


class GoogleSink(AdAudienceSink):
    config: GoogleSinkConfig
    platform = "Google"

    def __init__(self, config: GoogleSinkConfig, *, consent_required: bool = True,
                 credentials_file: Path | None = None, retry: RetryPolicy | None = None,
                 sleep: Callable[[float], None] = pause, clock: Callable[[], float] = time.monotonic) -> None:
        region = config.default_phone_region
        super().__init__(consent_required=consent_required, email=identifiers.google_email,
                         phone=lambda phone: identifiers.google_phone(phone, region))
        self.config = config
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._session = requests.Session()
        token = Token(access_token=config.access_token.get_secret_value() if config.access_token else None,
                      credentials_file=credentials_file or config.credentials_file, session=self._session)
        pacer = RateWindows([(config.requests_per_minute, 60.0)], sleep, clock)
        self.api = DataManagerApi(config.base_url, token, retry=self.retry, timeout=config.timeout_seconds,
                                  pacer=pacer, session=self._session)
        self.partial: list[str] = []

    def close(self) -> None:
        self.api.close()

    def configured_segments(self) -> tuple[str, Sequence[str]] | None:
        return ("user_lists", list(self.config.user_lists))

    def attach_memory(self, memory: SinkMemory) -> None:
        """Google's lists are named in the config: nothing to remember."""

    def member(self, segment: str, contact: Contact) -> str:
        found = self.wanted_member(segment, contact)
        return "" if found is None else found.text()

    def push(self, batch_id: str, changes: Sequence[Change]) -> PushResult:
        adds, removes = ad_members.plan(changes)
        for segment in [s for s in removes if s not in self.config.user_lists]:
            # Its list is no longer named: nothing to remove from, and no reason to stop every run for it.
            self.partial.append(f"{len(removes.pop(segment))} members of {segment!r} stay in the user list that "
                                "was configured for it: user_lists no longer names it (remove them in Google Ads)")
        removals = [self._send("remove", segment, chunk) for segment, texts in removes.items()
                    for chunk in _chunks(texts)]
        self._wait(removals)
        ingests = [self._send("ingest", segment, chunk) for segment, texts in adds.items() for chunk in _chunks(texts)]
        self._wait(ingests)
        return PushResult(accepted=[c.customer_key for c in changes])

    def replace(self, batch_id: str, members: Mapping[str, Sequence[str]]) -> None:
        segments = list(self.config.user_lists)
        cleared = []
        for start in range(0, len(segments), MAX_DESTINATIONS):
            group = segments[start:start + MAX_DESTINATIONS]
            answer = self.api.call("POST", "/v1/audienceMembers:removeAll",
                                   body={"destinations": [self._destination(s) for s in group]},
                                   what=f"remove every member of {', '.join(map(repr, group))}")
            cleared.append((self._request_id(answer, "removeAll"), ", ".join(group)))
        self._wait(cleared)
        ingests = [self._send("ingest", segment, chunk) for segment in segments
                   for chunk in _chunks(list(members.get(segment, ())))]
        self._wait(ingests)

    def finish(self, sizes: Mapping[str, int]) -> list[str]:
        notes = list(self.partial)
        self.partial.clear()
        return notes

    def preview(self, changes: Sequence[Change]) -> list[str]:
        adds, removes = ad_members.plan(changes)
        return [f"{len(adds.get(s, ())):>8,} added, {len(removes.get(s, ())):>8,} removed  "
                f"user list {self.config.user_lists[s]} ({s})" for s in sorted(set(adds) | set(removes))
                if s in self.config.user_lists]

    # -- the platform ----------------------------------------------------------------------------
    def _destination(self, segment: str) -> dict[str, Any]:
        config = self.config
        destination: dict[str, Any] = {
            "operatingAccount": {"accountType": "GOOGLE_ADS", "accountId": config.operating_account_id},
            "productDestinationId": config.user_lists[segment]}
        if config.login_account_id:
            destination["loginAccount"] = {"accountType": "GOOGLE_ADS", "accountId": config.login_account_id}
        return destination

    def _send(self, kind: str, segment: str, texts: Sequence[str]) -> tuple[str, str]:
        body: dict[str, Any] = {"destinations": [self._destination(segment)],
                                "audienceMembers": [_member(text, with_consent=kind == "ingest") for text in texts],
                                "encoding": "HEX"}
        if kind == "ingest" and self.config.customer_match_terms_accepted:
            body["termsOfService"] = {"customerMatchTermsOfServiceStatus": "ACCEPTED"}
        what = f"{kind} {len(texts)} members of {segment!r} (user list {self.config.user_lists[segment]})"
        answer = self.api.call("POST", f"/v1/audienceMembers:{kind}", body=body, what=what)
        return self._request_id(answer, kind), what

    @staticmethod
    def _request_id(answer: Mapping[str, Any], kind: str) -> str:
        request_id = answer.get("requestId")
        if not isinstance(request_id, str) or not request_id:
            raise TransientError(f"Google: {kind}: an answer without a requestId", origin="google")
        return request_id

    def _wait(self, sent: Sequence[tuple[str, str]]) -> None:
        """Polls each request until every destination of it is done; raises if one failed or if it
        takes longer than max_wait_seconds (the batch then stays for the next run, which resends it:
        ingest and remove are idempotent)."""
        waited = 0.0
        pending = list(sent)
        while pending:
            still = []
            for request_id, what in pending:
                answer = self.api.call("GET", "/v1/requestStatus:retrieve", params={"requestId": request_id},
                                       what=f"status of {what}")
                states = [d for d in answer.get("requestStatusPerDestination") or [] if isinstance(d, dict)]
                names = [str(d.get("requestStatus") or "REQUEST_STATUS_UNKNOWN") for d in states]
                if "FAILED" in names:
                    raise PermanentError(f"Google: {what} failed ({_reasons(states)})", origin="google")
                if not names or any(n not in _DONE for n in names):
                    still.append((request_id, what))
                elif "PARTIAL_SUCCESS" in names:
                    self.partial.append(f"Google: {what}: partly applied ({_reasons(states)})")
            pending = still
            if pending:
                if waited >= self.config.max_wait_seconds:
                    raise TransientError(f"Google: {pending[0][1]}: still processing after {waited:.0f} s; the "
                                         "batch is sent again on the next run", origin="google")
                self._sleep(self.config.poll_seconds)
                waited += max(self.config.poll_seconds, 0.001)


def _member(text: str, *, with_consent: bool) -> dict[str, Any]:
    member = ad_members.parse(text)
    ids = ([{"emailAddress": h} for h in member.email_hashes] + [{"phoneNumber": h} for h in member.phone_hashes])
    body: dict[str, Any] = {"userData": {"userIdentifiers": ids}}
    if with_consent and member.consent is not None:
        status = _CONSENT[member.consent]
        body["consent"] = {"adUserData": status, "adPersonalization": status}
    return body


def _reasons(states: Sequence[Mapping[str, Any]]) -> str:
    """Error reasons and their counts from errorInfo; never a member."""
    counts = []
    for state in states:
        for item in (state.get("errorInfo") or {}).get("errorCounts") or []:
            if isinstance(item, dict):
                counts.append(f"{item.get('reason', 'UNKNOWN')} x{item.get('recordCount', '?')}")
    return ", ".join(counts) or "no reason given"


def _chunks(texts: Sequence[str]) -> list[Sequence[str]]:
    return [texts[i:i + MAX_MEMBERS] for i in range(0, len(texts), MAX_MEMBERS)]

