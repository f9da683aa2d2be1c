"""Mailchimp sink: each customer's segment as a tag and merge fields on their audience member.

What it does to an audience: the member gets exactly one tag `tag_prefix + segment` active (every
other segment's tag of the scheme inactive); a customer who leaves all segments loses it; merge
fields (RFM_SEG, RFM_CELL by default) are set, and created on the audience if missing. Tags without
the prefix, and every other merge field, are never touched.

Consent is never changed: updates are `PATCH .../members/{hash}` with merge fields only (PATCH never
creates a member, and without `status` a member who unsubscribes during a run stays unsubscribed)
plus the tags endpoint. Customers who are not members are counted and skipped; only with
`add_missing_as = "transactional"` are they added, with `PUT` and `status_if_new: transactional`,
which sets a status only when it creates the member.

Bulk: all of a batch's member operations go in one `/batches` call (docs/platforms.md §4.6); rfmsync
polls it and reads the per-operation results from its archive. That is 3 + 1 requests per batch
and a handful of connections, far under Mailchimp's 10 concurrent.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import tarfile
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import requests
from rfmsync.connectors.base import ConfiguredSink, PushResult
from rfmsync.connectors.http_client import HttpClient
from rfmsync.connectors.mailchimp.api import MailchimpApi, problem
from rfmsync.connectors.mailchimp.config import MailchimpSinkConfig
from rfmsync.connectors.retry import RetryPolicy
from rfmsync.core.diff import Change, ChangeKind
from rfmsync.core.errors import PermanentError, TransientError
from rfmsync.core.fields import BY_NAME
from rfmsync.core.schemes import BUILTIN_SCHEMES
from rfmsync.core.stopping import pause

log = logging.getLogger("rfmsync.connectors.mailchimp")

NOT_A_MEMBER = "not a member of the audience (skipped; set add_missing_as to add customers)"


def subscriber_hash(email: str) -> str:
    """md5 of the lower-cased address: Mailchimp's member id (§4.1)."""
    return hashlib.md5(email.strip().lower().encode(), usedforsecurity=False).hexdigest()


class MailchimpSink(ConfiguredSink):
    config: MailchimpSinkConfig

    def __init__(self, config: MailchimpSinkConfig, *, retry: RetryPolicy | None = None,
                 sleep: Callable[[float], None] = pause) -> None:
        self.config = config
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        # One connection pool for the API and the archive downloads; the API key is sent per API
        # request only, never to the storage host of an archive.
        self._session = requests.Session()
        self.api = MailchimpApi(config.api_key.get_secret_value(), base_url=config.base_url,
                                timeout=config.timeout_seconds, retry=self.retry, session=self._session)
        # The results archive is a signed storage URL the SDK cannot fetch.
        self.download = HttpClient("", retry=self.retry, timeout=(5.0, config.timeout_seconds), show_path=False,
                                   origin="mailchimp", session=self._session)
        self.segment_names: Sequence[str] = ()
        self._ready = False
        self.skipped_not_member = 0

    def close(self) -> None:
        self._session.close()

    def set_segments(self, names: Sequence[str]) -> None:
        """The scheme's segments. Every tag rfmsync can have written (this scheme's segments and every
        built-in scheme's, so a shop that switched schemes loses the old tags) is set inactive
        except the customer's own; tags of a custom scheme renamed since are not known here."""
        builtin = [n for scheme in BUILTIN_SCHEMES.values() for n in scheme.segment_names]
        self.segment_names = tuple(dict.fromkeys([*names, *builtin]))

    def push(self, batch_id: str, changes: Sequence[Change]) -> PushResult:
        if not changes:
            return PushResult(accepted=[])
        self._prepare()
        operations, owners, rejected = self._operations(changes)
        if not operations:
            return PushResult(accepted=[], rejected=rejected)
        results = self._run_batch(operations)
        return self._outcome(changes, owners, results, rejected)

    def preview(self, changes: Sequence[Change]) -> list[str]:
        """What a dry run would do to the audience, counted."""
        prefix = self.config.tag_prefix
        tags = Counter((f"'{prefix}{c.old_segment}'" if c.old_segment else "-",
                        f"'{prefix}{c.new_segment}'" if c.new_segment else "-") for c in changes)
        lines = [f"{n:>8,}  tag {old} -> {new}" for (old, new), n in sorted(tags.items(), key=lambda kv: -kv[1])]
        if self.config.merge_fields:
            lines.append(f"{len(changes):>8,}  merge fields {', '.join(self.config.merge_fields)} set "
                         "(cleared for customers who left every segment)")
        return lines

    def _prepare(self) -> None:
        """Checks the key and the audience, and creates missing merge fields (once)."""
        if self._ready:
            return
        lists = self.api.client.lists
        list_id = self.config.list_id
        try:
            self.api.call("audience check", lists.get_list, list_id, fields=["id"])
        except PermanentError as exc:
            if exc.status == 404:
                raise PermanentError(f"Mailchimp: no audience with list_id {list_id!r} (404); check list_id") from None
            raise
        existing = self.api.call("merge fields", lists.get_list_merge_fields, list_id, count=1000)
        have = {f.get("tag") for f in (existing or {}).get("merge_fields", [])}
        for tag, field in self.config.merge_fields.items():
            if tag in have:
                continue
            body = {"tag": tag, "name": BY_NAME[field].label, "type": "text", "required": False, "public": False}
            try:
                self.api.call(f"create merge field {tag}", lists.add_list_merge_field, list_id, body)
                log.info("created merge field %s on audience %s", tag, list_id)
            except PermanentError as exc:
                if exc.status != 400:  # 400: another process created it meanwhile
                    raise
        self._ready = True

    def _operations(self, changes: Sequence[Change]) -> tuple[list[dict[str, Any]], dict[str, str], dict[str, str]]:
        list_id, prefix = self.config.list_id, self.config.tag_prefix
        operations: list[dict[str, Any]] = []
        owners: dict[str, str] = {}  # operation id -> customer key
        rejected: dict[str, str] = {}
        for index, change in enumerate(changes):
            if not change.email:
                rejected[change.customer_key] = "no email address: Mailchimp members are found by email"
                continue
            path = f"/lists/{list_id}/members/{subscriber_hash(change.email)}"
            merge = {tag: change.fields.get(field, "") for tag, field in self.config.merge_fields.items()}
            if self.config.add_missing_as:
                body: dict[str, Any] = {"email_address": change.email, "status_if_new": self.config.add_missing_as,
                                        "merge_fields": merge}
                operations.append(self._op("PUT", path, body, f"{index}.m"))
            elif merge:
                operations.append(self._op("PATCH", path, {"merge_fields": merge}, f"{index}.m"))
            others = set(self.segment_names) | {change.old_segment or ""}
            others.discard(change.new_segment or "")
            tags = [{"name": f"{prefix}{s}", "status": "inactive"} for s in sorted(others) if s]
            if change.kind is not ChangeKind.LEFT and change.new_segment:
                tags.append({"name": f"{prefix}{change.new_segment}", "status": "active"})
            # is_syncing false: journeys that start on "tag added" should fire.
            operations.append(self._op("POST", f"{path}/tags", {"tags": tags, "is_syncing": False}, f"{index}.t"))
            owners[str(index)] = change.customer_key
        return operations, owners, rejected

    @staticmethod
    def _op(method: str, path: str, body: dict[str, Any], operation_id: str) -> dict[str, Any]:
        # A batch operation's body is a JSON-encoded string, not an object (§4.6).
        return {"method": method, "path": path, "operation_id": operation_id, "body": json.dumps(body)}

    def _run_batch(self, operations: list[dict[str, Any]]) -> dict[str, tuple[int, dict[str, Any]]]:
        batches = self.api.client.batches
        started = self.api.call("start batch", batches.start, {"operations": operations})
        batch = started
        while batch.get("status") != "finished":
            self._sleep(self.config.poll_seconds)
            batch = self.api.call("batch status", batches.status, started["id"])
        url = batch.get("response_body_url")
        if not url:
            raise TransientError("Mailchimp: a finished batch without a results archive")
        return self._read_archive(url)

    def _read_archive(self, url: str) -> dict[str, tuple[int, dict[str, Any]]]:
        """operation_id -> (status code, problem or response) from the batch's tar.gz of JSON arrays."""
        response = self.download.request("GET", url)
        results: dict[str, tuple[int, dict[str, Any]]] = {}
        try:
            with tarfile.open(fileobj=io.BytesIO(response.content), mode="r:gz") as archive:
                for member in archive.getmembers():
                    handle = archive.extractfile(member) if member.isfile() else None
                    if handle is None:
                        continue
                    for item in json.load(handle):
                        results[str(item.get("operation_id"))] = (int(item.get("status_code", 0)),
                                                                   problem(item.get("response") or "{}"))
        except (tarfile.TarError, ValueError, OSError):
            raise TransientError("Mailchimp: the batch results archive could not be read") from None
        return results

    def _outcome(self, changes: Sequence[Change], owners: dict[str, str],
                 results: dict[str, tuple[int, dict[str, Any]]], rejected: dict[str, str]) -> PushResult:
        accepted: list[str] = []
        skipped_keys: dict[str, str] = {}
        for index, key in owners.items():
            statuses = [results.get(f"{index}.{kind}") for kind in ("m", "t")]
            answered = [r for r in statuses if r is not None]
            if not answered or any(code in (429,) or code >= 500 for code, _ in answered):
                continue  # not known to be applied: left unacknowledged for the next run
            failures = [(code, body) for code, body in answered if code >= 400]
            if not failures:
                accepted.append(key)
            elif all(code == 404 for code, _ in failures) and not self.config.add_missing_as:
                skipped_keys[key] = NOT_A_MEMBER
            else:
                rejected[key] = _member_reason(*failures[0])
        self.skipped_not_member += len(skipped_keys)
        if skipped_keys:
            log.info("%d customers are not members of audience %s and were skipped", len(skipped_keys),
                     self.config.list_id)
        return PushResult(accepted=accepted, rejected=rejected, skipped=skipped_keys)


def _member_reason(status: int, body: dict[str, Any]) -> str:
    """A rejection reason safe to store and show: never the problem's detail (it quotes the email)."""
    detail = str(body.get("detail", "")).lower()
    if "signed up to a lot of lists" in detail:
        return "Mailchimp anti-abuse: this address signed up to a lot of lists recently"
    title = str(body.get("title") or "error")[:80]
    if "compliance" in title.lower():
        return "member is unsubscribed or cleaned (compliance state); rfmsync never changes that"
    return f"Mailchimp refused the member: {status} {title}"
