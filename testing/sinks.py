"""The contract every sink meets, as a pytest class to subclass (as Meltano's singer-sdk ships its
target tests).

A connector's test module subclasses `SinkContract` (its name must start with `Test`), gives a
`platform` fixture (its loopback fake) and the few methods marked "give", and inherits these tests:

- an empty batch sends nothing;
- entered, moved, updated and left each leave the platform showing what the sink documents;
- a replayed batch_id (a crash between push and acknowledge) duplicates nothing;
- the keys a push accepts, rejects or skips are a subset of the batch, and none is two of those;
- only errors of rfmsync's tree (core/errors.py) escape, whatever the platform answers;
- 429 and 5xx are retried, waiting what Retry-After asks;
- a stop request ends a wait at once;
- no secret, email, phone or email hash reaches any log line or error.

An ad audience sink (connectors.base.AudienceSink) gets the contract's changes as the run loop
would give them: its own member texts for the customers, and the one it held before.

Tests that need fault injection are skipped for sinks that make no requests (`inject` returns
False).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from rfmsync.connectors.base import AudienceSink, Contact, PushResult, SegmentAwareSink, Sink
from rfmsync.connectors.retry import RetryPolicy
from rfmsync.core.diff import Change, ChangeKind
from rfmsync.core.errors import RfmsyncError
from rfmsync.core.stopping import Interrupted, pause
from rfmsync.testing.common import Fault, Sleeps, leaks, nothing_private_logged, private_values, quick_policy


@dataclass(frozen=True)
class Customer:
    key: str
    email: str
    phone: str


CUSTOMERS = tuple(Customer(f"k{i}", f"contract.customer{i}@example.com", f"+49151000000{i}") for i in range(1, 5))
SEGMENTS = ("Champions", "At Risk", "Lost")


def change(customer: Customer, kind: ChangeKind, old: str | None, new: str | None, cell: str = "555") -> Change:
    fields = {} if new is None else {"segment": new, "rfm_cell": cell}
    return Change(customer.key, kind, old, new, fields, email=customer.email, phone=customer.phone)


class SinkContract:
    """Subclass and give: the `platform` fixture, `make_sink`, `held`, `requests`; optionally
    `inject`, `effects`, `cells`, `refused`, `secrets`."""

    # -- give ------------------------------------------------------------------------------------
    @pytest.fixture
    def platform(self) -> Iterator[Any]:
        raise NotImplementedError("give a `platform` fixture: the sink's loopback fake, started")

    def make_sink(self, platform: Any, retry: RetryPolicy) -> Sink:
        """The sink under test, pushing to `platform`, its fields ["segment", "rfm_cell"]."""
        raise NotImplementedError

    def held(self, platform: Any) -> dict[str, str]:
        """Customer key -> the segment the platform now shows for them (those in none left out)."""
        raise NotImplementedError

    def requests(self, platform: Any) -> int:
        """Requests (or writes) the platform has received so far."""
        raise NotImplementedError

    def prepare(self, platform: Any, customers: Sequence[Customer]) -> None:
        """Makes the customers known to the platform where the sink needs that (audience members)."""

    def inject(self, platform: Any, fault: Fault) -> bool:
        """Has the platform answer with `fault`; False when the sink makes no requests to fail."""
        return False

    def effects(self, platform: Any) -> int:
        """How many records the platform holds or has logged: a replayed batch must not grow it."""
        return len(self.held(platform))

    def cells(self, platform: Any) -> dict[str, str] | None:
        """Customer key -> rfm_cell as the platform shows it, or None where it shows no fields."""
        return None

    def refused(self) -> Change | None:
        """A change this sink's platform refuses or the sink skips (no member, no email), if any."""
        return None

    def secrets(self, platform: Any) -> list[str]:
        """Tokens, keys and signing secrets that must never be logged."""
        return []

    # -- the contract ----------------------------------------------------------------------------
    @pytest.fixture(autouse=True)
    def _nothing_private_is_logged(self, platform: Any, caplog: pytest.LogCaptureFixture) -> Iterator[None]:
        with nothing_private_logged(caplog, lambda: self._private(platform)):
            yield

    def _private(self, platform: Any) -> list[str]:
        return private_values(self.secrets(platform), (c.email for c in CUSTOMERS), (c.phone for c in CUSTOMERS))

    def sink(self, platform: Any, retry: RetryPolicy | None = None) -> Sink:
        self.prepare(platform, CUSTOMERS)
        built = self.make_sink(platform, retry or quick_policy(Sleeps()))
        if isinstance(built, SegmentAwareSink):
            built.set_segments(SEGMENTS)
        return built

    def push(self, sink: Sink, batch_id: str, changes: Sequence[Change]) -> PushResult:
        result = sink.push(batch_id, for_sink(sink, changes))
        keys = [c.customer_key for c in changes]
        accepted, rejected, skipped = set(result.accepted), set(result.rejected), set(result.skipped)
        assert accepted | rejected | skipped <= set(keys), "a push reported keys that were not in its batch"
        assert not (accepted & rejected or accepted & skipped or rejected & skipped), "a key reported twice"
        assert len(result.accepted) == len(accepted), "a key accepted twice"
        return result

    def test_an_empty_batch_sends_nothing(self, platform: Any) -> None:
        sink = self.sink(platform)
        before = self.requests(platform)
        result = self.push(sink, "contract:empty", [])
        assert (list(result.accepted), self.requests(platform) - before) == ([], 0)

    def test_entered_moved_updated_left(self, platform: Any) -> None:
        a, b, c = CUSTOMERS[:3]
        sink = self.sink(platform)
        first = self.push(sink, "contract:1", [change(a, ChangeKind.ENTERED, None, "Champions"),
                                               change(b, ChangeKind.ENTERED, None, "At Risk", "211"),
                                               change(c, ChangeKind.ENTERED, None, "Lost", "111")])
        assert sorted(first.accepted) == [a.key, b.key, c.key]
        assert self.held(platform) == {a.key: "Champions", b.key: "At Risk", c.key: "Lost"}
        second = self.push(sink, "contract:2", [change(a, ChangeKind.MOVED, "Champions", "At Risk", "355"),
                                                change(b, ChangeKind.UPDATED, "At Risk", "At Risk", "212"),
                                                change(c, ChangeKind.LEFT, "Lost", None)])
        assert sorted(second.accepted) == [a.key, b.key, c.key]
        assert self.held(platform) == {a.key: "At Risk", b.key: "At Risk"}
        cells = self.cells(platform)
        if cells is not None:
            assert (cells.get(a.key), cells.get(b.key)) == ("355", "212")

    def test_a_replayed_batch_duplicates_nothing(self, platform: Any) -> None:
        batch = [change(customer, ChangeKind.ENTERED, None, "Champions") for customer in CUSTOMERS[:2]]
        sink = self.sink(platform)
        self.push(sink, "contract:replay", batch)
        held, effects = self.held(platform), self.effects(platform)
        replayed = self.push(self.sink(platform), "contract:replay", batch)  # after a crash: a new process
        assert sorted(replayed.accepted) == [c.customer_key for c in batch]
        assert (self.held(platform), self.effects(platform)) == (held, effects)

    def test_refused_records_are_reported_not_accepted(self, platform: Any) -> None:
        refused = self.refused()
        if refused is None:
            pytest.skip("this sink's platform refuses no record of the contract's")
        good = change(CUSTOMERS[0], ChangeKind.ENTERED, None, "Champions")
        result = self.push(self.sink(platform), "contract:refused", [good, refused])
        assert list(result.accepted) == [good.customer_key]
        assert refused.customer_key in {**result.rejected, **result.skipped}

    def _fault_or_skip(self, platform: Any, fault: Fault) -> None:
        if not self.inject(platform, fault):
            pytest.skip("this sink makes no requests to fail")

    @pytest.mark.parametrize("fault", [Fault(429, retry_after=7), Fault(503, body="html"), Fault(502, body="empty"),
                                       Fault(500)], ids=["429-retry-after", "503-html", "502-empty", "500"])
    def test_429_and_5xx_are_retried_honouring_retry_after(self, platform: Any, fault: Fault) -> None:
        self._fault_or_skip(platform, fault)
        sleeps = Sleeps()
        batch = [change(CUSTOMERS[0], ChangeKind.ENTERED, None, "Champions")]
        result = self.push(self.sink(platform, quick_policy(sleeps)), "contract:retry", batch)
        assert list(result.accepted) == [CUSTOMERS[0].key]
        assert self.held(platform) == {CUSTOMERS[0].key: "Champions"}
        assert len(sleeps.calls) == 1
        if fault.retry_after is not None:
            assert sleeps.calls == [fault.retry_after]
        else:
            assert 0 <= sleeps.calls[0] <= 0.5  # the policy's first full-jitter wait

    @pytest.mark.parametrize("fault", [Fault(400, count=20), Fault(404, count=20), Fault(409, count=20),
                                       Fault(422, count=20, body="html"), Fault(401, count=20),
                                       Fault(500, count=20, body="empty"), Fault(503, count=20, body="drop")],
                             ids=["400", "404", "409", "422-html", "401", "500-empty", "503-dropped"])
    def test_only_errors_of_the_project_escape(self, platform: Any, fault: Fault) -> None:
        self._fault_or_skip(platform, fault)
        batch = [change(customer, ChangeKind.ENTERED, None, "Champions") for customer in CUSTOMERS[:2]]
        try:
            result = self.push(self.sink(platform), "contract:faults", batch)
        except RfmsyncError as exc:
            found = leaks(str(exc), self._private(platform))
            assert not found, f"the error holds private values (shown cut short): {found}"
        else:  # answered per record: then nothing the platform refused may count as accepted
            assert set(result.accepted) <= set(self.held(platform))

    def test_a_stop_request_ends_a_wait(self, platform: Any) -> None:
        self._fault_or_skip(platform, Fault(429, count=5, retry_after=600))
        stop = threading.Event()
        policy = RetryPolicy(max_attempts=5, max_retry_after=600.0, sleep=lambda s: pause(s, stop), stop=stop)
        sink = self.sink(platform, policy)

        def ctrl_c() -> None:
            # time.sleep, not threading.Timer: a timed Event.wait never returns under libfaketime,
            # which CI runs the suite under (core/stopping.py).
            time.sleep(0.2)
            stop.set()

        started = time.monotonic()
        threading.Thread(target=ctrl_c, daemon=True).start()
        try:
            with pytest.raises(Interrupted):
                entered = change(CUSTOMERS[0], ChangeKind.ENTERED, None, "Champions")
                sink.push("contract:stop", for_sink(sink, [entered]))
        finally:
            stop.set()
        # The wait asked for was 600 s; ending within a few seconds of the stop is the behaviour.
        assert time.monotonic() - started < 30

    def test_close_releases_the_sink_and_may_be_called_twice(self, platform: Any) -> None:
        sink = self.sink(platform)
        sink.close()
        sink.close()


def for_sink(sink: Sink, changes: Sequence[Change]) -> list[Change]:
    """The contract's changes as the run loop gives them to this sink: an ad audience sink gets
    member texts (its own, for customers with consent to everything) and what it held before."""
    if not isinstance(sink, AudienceSink):
        return list(changes)
    out = []
    for c in changes:
        contact = Contact(c.email, c.phone, True, True)
        member = sink.member(c.new_segment, contact) if c.new_segment and c.kind is not ChangeKind.LEFT else ""
        before = {"segment": c.old_segment, "member": sink.member(c.old_segment, contact)} if c.old_segment else None
        fields = {"segment": c.new_segment or "", "member": member} if c.kind is not ChangeKind.LEFT else {}
        out.append(Change(c.customer_key, c.kind, c.old_segment, c.new_segment, fields, before=before))
    return out


def held_from_changes(changes: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """What a receiver of a change log holds after applying it in order (key -> segment)."""
    held: dict[str, str] = {}
    for item in changes:
        key, new = str(item["customer_key"]), item.get("new_segment")
        if new:
            held[key] = str(new)
        else:
            held.pop(key, None)
    return held
