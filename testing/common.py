"""What both contract suites share: the fault a platform fake is asked to inject, a recording
sleep, and the check that no log line or error holds a secret or a customer's contact."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import pytest
from rfmsync.connectors.retry import RetryPolicy
from rfmsync.core.stopping import Interrupted

# The contract's clock: no test depends on today's date.
NOW = datetime(2026, 11, 1, 4, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Fault:
    """What the platform fake answers the next `count` requests with, instead of the real answer.

    body: "platform" is the platform's own error shape (a problem+json, a GraphQL error),
    "html" an edge proxy's page, "empty" no body at all; "drop" closes the connection mid-answer.
    """

    status: int
    count: int = 1
    retry_after: float | None = None
    body: Literal["platform", "html", "empty", "drop"] = "platform"


class Sleeps:
    """A retry policy's sleep that records each wait and returns at once; a set `stop` ends it
    as core.stopping.pause would."""

    def __init__(self, stop: threading.Event | None = None) -> None:
        self.calls: list[float] = []
        self.stop = stop

    def __call__(self, seconds: float) -> None:
        if self.stop is not None and self.stop.is_set():
            raise Interrupted("stopped on request")
        self.calls.append(seconds)


def quick_policy(sleeps: Sleeps, attempts: int = 4) -> RetryPolicy:
    return RetryPolicy(max_attempts=attempts, base_delay=0.5, max_delay=2.0, max_retry_after=30.0, sleep=sleeps)


def private_values(secrets: Iterable[str], emails: Iterable[str], phones: Iterable[str]) -> list[str]:
    """Everything no log line or error may hold: secrets, contacts, and the hashes of an email that
    platforms use as ids (MD5 for Mailchimp members, SHA-256 for ad audiences)."""
    values = [s for s in secrets if s]
    for email in emails:
        normalized = email.strip().lower().encode()
        values += [email, hashlib.md5(normalized, usedforsecurity=False).hexdigest(),
                   hashlib.sha256(normalized).hexdigest()]
    values += [p for p in phones if p]
    return values


def leaks(text: str, values: Iterable[str]) -> list[str]:
    """The private values that occur in `text`, shortened so the failure itself leaks nothing real."""
    return [f"{v[:3]}…" for v in values if v in text]


def log_text(records: Iterable[logging.LogRecord]) -> str:
    return "\n".join(record.getMessage() for record in records)


@contextlib.contextmanager
def nothing_private_logged(caplog: pytest.LogCaptureFixture, private: Callable[[], list[str]]) -> Iterator[None]:
    """Captures every log line of a test at DEBUG, as `rfmsync` runs (urllib3's request lines, with
    their URLs and queries, stay hidden), and fails it when one holds a private value."""
    # In this order: each call also sets the capturing handler's level, which must end at DEBUG.
    caplog.set_level(logging.WARNING, logger="urllib3")
    caplog.set_level(logging.DEBUG)
    yield
    found = leaks(log_text([*caplog.get_records("setup"), *caplog.get_records("call")]), private())
    assert not found, f"log lines hold private values (shown cut short): {found}"
