"""Webhook sink: POSTs each batch of segment changes as signed JSON to a URL of your choice, so
n8n, Zapier, Make or your own endpoint can act on customers entering, moving between or leaving
segments.

Request
-------
``POST <url>`` with the body below, compact JSON in UTF-8 with sorted keys, and these headers:

- ``Content-Type: application/json``
- ``X-Rfmsync-Batch-Id: <batch_id>``: the same id, with the same changes, when a batch is replayed
  after a crash or a lost answer. Receivers that must act once per change keep the ids they have
  processed and skip a repeat.
- ``X-Rfmsync-Timestamp: <unix seconds>``: when this attempt was signed.
- ``X-Rfmsync-Signature: sha256=<hex>``: HMAC-SHA256, keyed with the configured ``secret``, over
  ``f"{timestamp}."`` followed by the raw body bytes. Signing the timestamp with the body (as Stripe
  does) lets a receiver refuse an old request replayed by someone who captured it.
- any ``headers`` from the config (for example header authentication on an n8n Webhook node).

.. code-block:: json

    {"batch_id": "acme:webhook:42",
     "changes": [{"customer_key": "c-1001", "email": "ada@example.com", "fields": {"rfm_cell": "545",
                  "segment": "Champions"}, "kind": "moved", "new_segment": "Champions",
                  "old_segment": "Loyal", "phone": null}],
     "sent_at": "2026-11-20T04:00:03.512Z"}

(wrapped here; sent on one line.) ``kind`` is ``entered`` (was in no segment), ``moved`` (segment
changed), ``updated`` (same segment, another pushed field changed) or ``left`` (in no segment now:
remove the tag; ``fields`` is empty and ``new_segment`` null). ``fields`` holds the configured
pushed fields (``segment`` always among them) as they are now. ``email`` and ``phone`` are null
when the shop does not know them. Changes are in customer
key order within a batch, and batches arrive one at a time in order.

Answer
------
Any 2xx accepts the whole batch. 401 or 403 stops this sink for the run as an authentication
failure; 408, 429 and 5xx (and timeouts, refused connections) are retried with backoff, honouring
``Retry-After``, and if they persist the batch is sent again on the next run. Any other status,
including a redirect (not followed: a POST would turn into a GET), refuses the batch and stops the
sink for the run. Each attempt is signed afresh, so a retry after a long wait still carries a
current timestamp.

Verifying (Python)
------------------
``verify_signature(secret, request.headers["X-Rfmsync-Timestamp"], raw_body,
request.headers["X-Rfmsync-Signature"])`` from this module: verify over the raw bytes before
parsing them, and reject when it returns False.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import requests
from rfmsync.connectors.base import ConfiguredSink, PushResult
from rfmsync.connectors.http_client import HttpClient, describe_status, redact_url
from rfmsync.connectors.retry import RetryPolicy
from rfmsync.connectors.webhook.config import BATCH_ID_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookSinkConfig
from rfmsync.core.diff import Change
from rfmsync.core.errors import PermanentError

log = logging.getLogger("rfmsync.connectors.webhook")


def sign(secret: str | bytes, timestamp: str | int, body: bytes) -> str:
    """The X-Rfmsync-Signature value: 'sha256=' + hex HMAC-SHA256 over f"{timestamp}." + body."""
    key = secret.encode() if isinstance(secret, str) else secret
    digest = hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(secret: str | bytes, timestamp: str | int, body: bytes, header: str,
                     tolerance_s: float | None = 300, now: float | None = None) -> bool:
    """True when `header` signs `timestamp` and the raw `body` with `secret`, and the timestamp is
    within `tolerance_s` seconds of `now` (default: the current time; None disables the check).

    Five minutes is Stripe's default tolerance: wide enough for clock skew, narrow enough that a
    captured request cannot be replayed later.
    """
    try:
        stamp = int(timestamp)
    except (TypeError, ValueError):
        return False
    if tolerance_s is not None and abs((time.time() if now is None else now) - stamp) > tolerance_s:
        return False
    expected = sign(secret, stamp, body)
    # compare_digest: constant time, so the answer's timing does not reveal how much matched.
    return hmac.compare_digest(expected.encode(), header.strip().lower().encode())


def encode_body(batch_id: str, changes: Sequence[Change], sent_at: float) -> bytes:
    """The request body, byte for byte: compact, sorted keys, UTF-8 (emails need not be ASCII)."""
    payload: dict[str, Any] = {
        "batch_id": batch_id,
        "sent_at": datetime.fromtimestamp(sent_at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "changes": [_change_json(change) for change in changes],
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _change_json(change: Change) -> dict[str, Any]:
    return {
        "customer_key": change.customer_key,
        "kind": change.kind.value,
        "old_segment": change.old_segment,
        "new_segment": change.new_segment,
        "fields": dict(change.fields),
        "email": change.email,
        "phone": change.phone,
    }


class WebhookSink(ConfiguredSink):
    """Sink that POSTs signed JSON batches; see the module docstring for the wire format."""

    config: WebhookSinkConfig

    def __init__(self, config: WebhookSinkConfig, *, retry: RetryPolicy | None = None,
                 session: requests.Session | None = None, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self._clock = clock
        self._secret = config.secret.get_secret_value().encode()
        # Connect quickly or fail over to a retry; the read timeout is the configured one.
        timeout = (min(5.0, config.timeout_seconds), config.timeout_seconds)
        # show_path=False: a Zapier, Make or n8n webhook URL's path is the credential, so errors and
        # retry logs name only the host.
        self._client = HttpClient(config.url, headers=config.headers, timeout=timeout, retry=retry,
                                  show_path=False, session=session, origin="webhook")

    def __repr__(self) -> str:
        return f"WebhookSink(name={self.name!r}, url={redact_url(self.config.url, keep_path=False)!r})"

    def close(self) -> None:
        self._client.close()

    def push(self, batch_id: str, changes: Sequence[Change]) -> PushResult:
        """POSTs one batch; any 2xx accepts every change in it. An empty batch sends nothing."""
        if not changes:
            return PushResult(accepted=[])
        body = encode_body(batch_id, changes, self._clock())

        def signed_headers() -> Mapping[str, str]:
            stamp = str(int(self._clock()))
            return {"Content-Type": "application/json", BATCH_ID_HEADER: batch_id, TIMESTAMP_HEADER: stamp,
                    SIGNATURE_HEADER: sign(self._secret, stamp, body)}

        started = time.monotonic()
        response = self._client.request("POST", "", data=body, headers=signed_headers, allow_redirects=False)
        if not 200 <= response.status_code < 300:
            # Reached only for 1xx/3xx: the client raised for >= 400 already.
            raise PermanentError(f"webhook {self.name}: POST {redact_url(self.config.url, keep_path=False)}: "
                                 f"{describe_status(response)}; redirects are not followed, set url to the "
                                 "final address")
        log.info("webhook %s: batch %s accepted, %d changes, %d bytes, %.2f s", self.name, batch_id, len(changes),
                 len(body), time.monotonic() - started)
        return PushResult(accepted=[change.customer_key for change in changes])
