"""The one retry policy, as tenacity strategies, for every request a connector makes.

- Retry on: 408, 429, 5xx and network errors (the caller says which of its exceptions those are).
- Wait: the server's `Retry-After` (429 and 503; seconds or an HTTP date), capped at
  `max_retry_after`; otherwise exponential backoff with full jitter.
- Stop: after `max_attempts`, or at once when a stop is requested (Ctrl-C, SIGTERM, the daemon
  shutting down): `Interrupted` is raised, so the run is recorded as interrupted, not failed.
- Sleep: on the stop request (core/stopping.py `pause`), so a 60 s Retry-After ends within 0.1 s
  of a stop.

The HTTP client (connectors/http_client.py) and SDK calls (connectors/mailchimp/api.py) both build
their `Retrying` with `retrying()`; a vendor SDK's own retries stay off.
"""

from __future__ import annotations

import email.utils
import random
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from rfmsync.core.stopping import STOP, Interrupted, pause
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt
from tenacity.stop import stop_base
from tenacity.wait import wait_base

# 408 Request Timeout and 429 Too Many Requests are the two 4xx that say "try again"
# (RFC 9110 §15.5.9, RFC 6585 §4); every 5xx is the server's fault and may pass.
RETRY_STATUSES = frozenset({408, 429, *range(500, 600)})
# RFC 9110 §10.2.3 defines Retry-After for 503 (and 3xx); RFC 6585 §4 adds it to 429.
RETRY_AFTER_STATUSES = frozenset({429, 503})
_DELAY_SECONDS = re.compile(r"\d+(\.\d+)?", re.ASCII)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try before raising. Delays are seconds.

    Attempt n (1-based) that failed waits uniform(0, min(max_delay, base_delay * 2**(n-1))):
    "full jitter" from https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/,
    which spreads many clients' retries instead of synchronising them. With the defaults the four
    waits before attempts 2-5 are at most 1, 2, 4 and 8 s.
    """

    max_attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 60.0
    # A server asking for longer than this is still retried, after this long: an hour-long
    # Retry-After must not block a scheduled run for an hour.
    max_retry_after: float = 300.0
    sleep: Callable[[float], None] = pause
    rng: random.Random = field(default_factory=random.Random)
    # Checked before every retry; `sleep` (pause) watches the process's STOP itself.
    stop: threading.Event = STOP

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_retry_after < 0:
            raise ValueError("delays must not be negative")

    def backoff(self, attempt: int) -> float:
        return self.rng.uniform(0.0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delay-seconds or an HTTP-date (RFC 9110 §10.2.3).

    None when absent or unreadable; a date in the past gives 0. Fractional seconds are not in the
    RFC but some servers send them, and they are unambiguous.
    """
    if value is None:
        return None
    value = value.strip()
    if _DELAY_SECONDS.fullmatch(value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" parses naive; an HTTP-date is always GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class wait_retry_after_or_jitter(wait_base):
    """The failed attempt's `retry_after` (seconds, set by the caller on its exception) capped at the
    policy's `max_retry_after`; without one, full-jitter backoff."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        retry_after = getattr(exc, "retry_after", None)
        if isinstance(retry_after, int | float):
            return min(float(retry_after), self.policy.max_retry_after)
        return self.policy.backoff(retry_state.attempt_number)


class stop_when_requested(stop_base):
    """Raises `Interrupted` instead of trying again once a stop is requested."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def __call__(self, retry_state: RetryCallState) -> bool:
        if self.event.is_set():
            raise Interrupted("stopped on request")
        return False


def retrying(policy: RetryPolicy, retry_on: Callable[[BaseException], bool],
             before_sleep: Callable[[RetryCallState], None]) -> Retrying:
    """A `Retrying` for one request under `policy`; the last exception is re-raised when it gives up."""
    return Retrying(
        stop=stop_when_requested(policy.stop) | stop_after_attempt(policy.max_attempts),
        wait=wait_retry_after_or_jitter(policy),
        retry=retry_if_exception(retry_on),
        sleep=policy.sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
