"""The Google sink through the run loop against the loopback fake Data Manager API
(tests/lib/fake_google.py): each list holds the segment's consenting customers with their consent
as recorded, applied only once Google says SUCCESS, paced under the quota."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from adkit import buy_again, google_member, orders_for, person, segments_of, sha
from fake_google import FakeGoogle
from pipelinekit import NOW, MemorySource, run
from rfmsync.connectors.google.config import GoogleSinkConfig
from rfmsync.connectors.google.sink import GoogleSink
from rfmsync.connectors.pacing import RateWindows
from rfmsync.connectors.retry import RetryPolicy
from rfmsync.core.rfm import RfmSettings
from rfmsync.sync.pipeline import StoreRuntime
from rfmsync.sync.state import Database

PEOPLE = [person(n) for n in range(1, 401)]
BY_KEY = {p.key: p for p in PEOPLE}
LISTS = {"Champions": "555", "Lost": "556"}


class Clock:
    """Time that moves only when the sink sleeps: pacing and polling without waiting."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def google() -> Iterator[FakeGoogle]:
    with FakeGoogle(polls_per_request=2) as fake:
        yield fake


def make_sink(google: FakeGoogle, clock: Clock | None = None, *, retry: RetryPolicy | None = None,
              credentials_file: Path | None = None, **config: Any) -> GoogleSink:
    settings: dict[str, Any] = {"type": "google", "operating_account_id": "123-456-7890",
                                "login_account_id": "9876543210", "user_lists": LISTS, "base_url": google.base_url,
                                "default_phone_region": "DE", "poll_seconds": 2.0, **config}
    if credentials_file is None:
        settings.setdefault("access_token", "ya29.fake")
    clock = clock or Clock()
    return GoogleSink(GoogleSinkConfig.model_validate(settings), credentials_file=credentials_file,
                      retry=retry or RetryPolicy(sleep=clock.sleep, base_delay=0.01), sleep=clock.sleep, clock=clock)


def store(source: MemorySource, *sinks: GoogleSink) -> StoreRuntime:
    return StoreRuntime(name="shop", tz_name="UTC", settings=RfmSettings(scheme="classic"), sources=[source],
                        sinks=list(sinks))


def expected(segments: dict[str, str]) -> dict[str, set[Any]]:
    lists: dict[str, set[Any]] = {list_id: set() for list_id in LISTS.values()}
    for key, segment in segments.items():
        member = google_member(BY_KEY[key])
        if member is not None and segment in LISTS:
            lists[LISTS[segment]].add(member)
    return lists


def held(google: FakeGoogle) -> dict[str, set[Any]]:
    return {list_id: google.members("1234567890", list_id) for list_id in LISTS.values()}


def test_first_sync_fills_each_list_and_records_consent_as_given(google: FakeGoogle, db: Database) -> None:
    clock = Clock()
    summary = run(db, store(MemorySource(orders_for(PEOPLE), page_size=500), make_sink(google, clock)))
    assert summary.outcome == "ok", summary.sinks[0].error
    assert summary.scored is not None
    want = expected(segments_of(summary.scored))
    assert held(google) == want and all(want.values())
    # Consent: granted for everyone sent (consent required), never assumed for anyone else.
    sent = {m for members in want.values() for m in members}
    assert {google.consents[m] for m in sent} == {("GRANTED", "GRANTED")}
    assert summary.sinks[0].audiences == {segment: len(want[LISTS[segment]]) for segment in LISTS}
    # Every ingest was polled until SUCCESS: 2 lists, 1 request each, 3 polls each (2 PROCESSING).
    kinds = [kind for kind, _ in google.journal]
    assert kinds.count("ingest") == 2 and kinds.count("status") == 6
    assert clock.sleeps.count(2.0) >= 2


def test_not_required_consent_sends_everyone_with_consent_as_recorded(google: FakeGoogle, db: Database) -> None:
    sink = GoogleSink(make_sink(google).config, consent_required=False, sleep=Clock().sleep, clock=Clock())
    summary = run(db, store(MemorySource(orders_for(PEOPLE), page_size=500), sink))
    assert summary.outcome == "ok", summary.sinks[0].error
    consents = set(google.consents.values())
    # Recorded refusals go as DENIED, unrecorded ones leave consent out; nothing becomes GRANTED by default.
    assert consents == {("GRANTED", "GRANTED"), ("DENIED", "DENIED"), (None, None)}
    assert summary.scored is not None
    expected = {}
    for key, segment in segments_of(summary.scored).items():
        p = BY_KEY[key]
        sent = [(("emailAddress", sha(p.email.strip().lower())), p.email_consent)] if p.email else []
        sent += [(("phoneNumber", sha(p.e164)), p.sms_consent)] if p.e164 else []
        if segment in LISTS and sent:
            recorded = [consent for _, consent in sent]
            status = "DENIED" if False in recorded else "GRANTED" if all(recorded) else None
            expected[tuple(sorted(identifier for identifier, _ in sent))] = (status, status)
    assert google.consents == expected


def test_movers_removed_then_added_and_a_quiet_run_sends_nothing(google: FakeGoogle, db: Database) -> None:
    source = MemorySource(orders_for(PEOPLE), page_size=500)
    first = run(db, store(source, make_sink(google)))
    assert first.scored is not None
    before = segments_of(first.scored)
    google.requests_made.clear()
    later = NOW + timedelta(days=1)
    buy_again(source.orders, PEOPLE[:60], later)
    second = run(db, store(source, make_sink(google)), at=later)
    assert second.outcome == "ok" and second.scored is not None
    after = segments_of(second.scored)
    assert held(google) == expected(after)

    def moved(kind: str) -> list[Any]:
        return sorted(m for p in google.requests_made.values() if p.kind == kind for m in p.members)

    entered = sorted(m for k in after if LISTS.get(after[k]) and before.get(k) != after[k]
                     and (m := google_member(BY_KEY[k])) is not None)
    left = sorted(m for k in before if LISTS.get(before[k]) and after.get(k) != before[k]
                  and (m := google_member(BY_KEY[k])) is not None)
    assert entered or left
    assert moved("ingest") == entered and moved("remove") == left
    received = google.received
    run(db, store(source, make_sink(google)), at=later)
    assert google.received == received


def test_a_service_account_file_gets_tokens_from_its_token_uri(google: FakeGoogle, db: Database,
                                                               tmp_path: Path) -> None:
    key_file = tmp_path / "sa.json"
    google.service_account_file(key_file)
    summary = run(db, store(MemorySource(orders_for(PEOPLE), page_size=500),
                            make_sink(google, credentials_file=key_file)))
    assert summary.outcome == "ok", summary.sinks[0].error
    assert google.tokens_issued == 1
    assert "BEGIN PRIVATE KEY" not in str(summary.counts())


def test_quota_429_waits_into_the_next_minute(google: FakeGoogle, db: Database) -> None:
    clock = Clock()
    google.faults.add(429, 1, kind="ingest")
    summary = run(db, store(MemorySource(orders_for(PEOPLE), page_size=500), make_sink(google, clock)))
    assert summary.outcome == "ok", summary.sinks[0].error
    assert 60.0 in clock.sleeps


def test_requests_are_paced_under_the_per_minute_quota(google: FakeGoogle, db: Database) -> None:
    clock = Clock()
    many = [person(n) for n in range(1, 1201)]
    sink = make_sink(google, clock, requests_per_minute=10, batch_size=50, poll_seconds=0)
    summary = run(db, store(MemorySource(orders_for(many), page_size=5000), sink))
    assert summary.outcome == "ok", summary.sinks[0].error
    # More than 10 requests: the run had to wait for the minute to pass, as often as needed.
    assert google.received > 20
    assert clock.now - 1000.0 >= 60.0 * ((google.received - 1) // 10)


@pytest.mark.parametrize("clock_moves", [True, False])
def test_rate_windows_never_let_more_than_each_limit_into_its_window(clock_moves: bool) -> None:
    clock = Clock()
    sent: list[float] = []
    pacer = RateWindows([(30, 60.0), (5, 1.0)], clock.sleep if clock_moves else clock.sleeps.append, clock)
    for i in range(200):
        if i % 7 == 0:
            clock.now += 0.5  # the requests themselves take time
        pacer.wait()
        sent.append(clock.now + (0.0 if clock_moves else sum(clock.sleeps)))
    assert all(later - earlier >= 60.0 - 1e-9 for earlier, later in zip(sent, sent[30:], strict=False))
    assert all(later - earlier >= 1.0 - 1e-9 for earlier, later in zip(sent, sent[5:], strict=False))
    assert sent[29] - sent[0] < 10  # a burst under the quotas is not slowed down more than they ask


def test_a_request_still_processing_leaves_the_batch_for_the_next_run(google: FakeGoogle, db: Database) -> None:
    google.polls_per_request = 1_000_000
    source = MemorySource(orders_for(PEOPLE), page_size=500)
    first = run(db, store(source, make_sink(google, max_wait_seconds=10)))
    assert first.outcome == "partial" and "still processing" in (first.sinks[0].error or "")
    assert first.sinks[0].accepted == 0
    google.polls_per_request = 1
    second = run(db, store(source, make_sink(google)))
    assert second.outcome == "ok" and second.scored is not None
    assert second.sinks[0].replayed_batches == 1
    assert held(google) == expected(segments_of(second.scored))


@pytest.mark.parametrize(("config", "expected_error"), [
    ({"access_token": "ya29.revoked"}, "credentials were refused"),
    ({"operating_account_id": "1111111111"}, "INVALID_DESTINATION"),
    ({"user_lists": {"Champions": "999"}}, "no such user list in the operating account"),
    ({"login_account_id": "2222222222"}, "OPERATING_ACCOUNT_LOGIN_ACCOUNT_MISMATCH"),
    ({"customer_match_terms_accepted": False}, "Customer Match terms"),
    ({"user_lists": {"Champs": "555"}}, "user_lists names 'Champs', which is not a segment of the store's scheme"),
])
def test_refusals_stop_only_this_sink_and_say_which(google: FakeGoogle, db: Database, config: dict[str, Any],
                                                   expected_error: str) -> None:
    summary = run(db, store(MemorySource(orders_for(PEOPLE), page_size=500), make_sink(google, **config)))
    assert summary.outcome == "partial"
    assert expected_error in (summary.sinks[0].error or "")


def test_full_resync_removes_all_then_ingests_exactly_the_segments(google: FakeGoogle, db: Database) -> None:
    source = MemorySource(orders_for(PEOPLE), page_size=500)
    run(db, store(source, make_sink(google)))
    stray = (("emailAddress", "a" * 64),)
    google.accounts["1234567890"]["555"].members[stray] = 1.0
    summary = run(db, store(source, make_sink(google)), full_resync=True)
    assert summary.outcome == "ok", summary.sinks[0].error
    assert summary.scored is not None
    assert held(google) == expected(segments_of(summary.scored))
    kinds = [p.kind for p in google.requests_made.values()]
    assert kinds.count("removeAll") == 1


def test_dry_run_counts_per_list(google: FakeGoogle, db: Database) -> None:
    summary = run(db, store(MemorySource(orders_for(PEOPLE), page_size=500), make_sink(google)), dry_run=True)
    assert google.received == 0 and summary.scored is not None
    want = expected(segments_of(summary.scored))
    assert sorted(summary.sinks[0].preview) == sorted(
        f"{len(want[list_id]):>8,} added, {0:>8,} removed  user list {list_id} ({segment})"
        for segment, list_id in LISTS.items())


def test_a_list_taken_out_of_the_config_is_noted_not_fatal(google: FakeGoogle, db: Database) -> None:
    source = MemorySource(orders_for(PEOPLE), page_size=500)
    run(db, store(source, make_sink(google)))
    lost = google.members("1234567890", "556")
    assert lost
    summary = run(db, store(source, make_sink(google, user_lists={"Champions": "555"})),
                  at=NOW + timedelta(minutes=5))
    assert summary.outcome == "ok", summary.sinks[0].error
    assert any(f"{len(lost)} members of 'Lost' stay in the user list" in n for n in summary.sinks[0].notes)
    assert summary.sinks[0].audiences.keys() == {"Champions"}
    assert google.members("1234567890", "556") == lost
