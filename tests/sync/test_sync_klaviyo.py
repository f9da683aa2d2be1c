"""The Klaviyo sink through the run loop against the loopback fake (tests/lib/fake_klaviyo.py):
exactly the right properties and list memberships, no consent change, no profile created by
default, a quiet run without a write, history fields that follow the segment."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from adkit import buy_again, orders_for, person, segments_of
from fake_klaviyo import KEY, FakeKlaviyo
from pipelinekit import NOW, MemorySource, run
from rfmsync.connectors.klaviyo.config import KlaviyoSinkConfig
from rfmsync.connectors.klaviyo.sink import KlaviyoSink
from rfmsync.connectors.retry import RetryPolicy
from rfmsync.core.rfm import RfmSettings
from rfmsync.sync.pipeline import StoreRuntime
from rfmsync.sync.state import Database

PEOPLE = [person(n) for n in range(1, 301) if n % 11]  # 273, all with an email
FIELDS = ["segment", "rfm_cell", "previous_segment", "segment_changed_at"]


@pytest.fixture
def klaviyo() -> Iterator[FakeKlaviyo]:
    with FakeKlaviyo(polls_per_job=2) as fake:
        for p in PEOPLE[:250]:  # the last 23 customers have no Klaviyo profile
            assert p.email
            fake.add_profile(p.email.strip(), favourite_colour="green")
        yield fake


def make_sink(klaviyo: FakeKlaviyo, **config: Any) -> KlaviyoSink:
    settings: dict[str, Any] = {"type": "klaviyo", "api_key": KEY, "base_url": klaviyo.base_url, "poll_seconds": 0,
                                "fields": FIELDS, "list_prefix": "RFM ", **config}
    # Real waits: a 429 from the fake asks for a second or two, as Klaviyo does.
    return KlaviyoSink(KlaviyoSinkConfig.model_validate(settings), retry=RetryPolicy(base_delay=0.05))


def store(source: MemorySource, sink: KlaviyoSink) -> StoreRuntime:
    return StoreRuntime(name="shop", tz_name="UTC", settings=RfmSettings(scheme="classic"), sources=[source],
                        sinks=[sink])


def expected(klaviyo: FakeKlaviyo, segments: dict[str, str]) -> dict[str, tuple[str | None, set[str]]]:
    """Profile id -> (rfm_segment, names of the RFM lists it is in), for every profile."""
    by_email = {p.email.strip().lower(): p.key for p in PEOPLE if p.email}
    out = {}
    for profile in klaviyo.profiles.values():
        segment = segments.get(by_email.get(profile.email, ""))
        out[profile.id] = (segment, {f"RFM {segment}"} if segment else set())
    return out


def held(klaviyo: FakeKlaviyo) -> dict[str, tuple[str | None, set[str]]]:
    return {p.id: (p.properties.get("rfm_segment"), {k.name for k in klaviyo.lists.values() if p.id in k.members})
            for p in klaviyo.profiles.values()}


@pytest.mark.parametrize("bulk_threshold", [100, 10_000], ids=["bulk-import", "patch"])
def test_profiles_get_exactly_their_properties_and_lists(klaviyo: FakeKlaviyo, db: Database,
                                                         bulk_threshold: int) -> None:
    summary = run(db, store(MemorySource(orders_for(PEOPLE), page_size=500), make_sink(
        klaviyo, bulk_threshold=bulk_threshold)))
    assert summary.outcome == "ok", summary.sinks[0].error
    assert summary.scored is not None
    segments = segments_of(summary.scored)
    assert held(klaviyo) == expected(klaviyo, segments)
    first = klaviyo.by_email(PEOPLE[0].email.strip())  # type: ignore[union-attr]
    assert first.properties["favourite_colour"] == "green"  # nobody else's property is touched
    assert first.properties["rfm_segment_changed_at"] == "2026-11-01" and first.properties["rfm_previous_segment"] == ""
    assert {p.subscriptions for p in klaviyo.profiles.values()} == {"SUBSCRIBED"} and klaviyo.consent_calls == 0
    assert klaviyo.created_profiles == 0 and len(klaviyo.profiles) == 250
    outcome = summary.sinks[0]
    assert (outcome.accepted, outcome.skipped) == (250, 23)
    assert len(klaviyo.jobs) == (1 if bulk_threshold == 100 else 0)  # 273 changes, batches of 1,000: one job
    # Paced under every limit: an unpaced sink meets dozens of 429s here; a loaded host may cost one.
    assert klaviyo.throttled <= 1


def test_movers_change_lists_and_history_and_a_quiet_run_writes_nothing(klaviyo: FakeKlaviyo, db: Database) -> None:
    source = MemorySource(orders_for(PEOPLE), page_size=500)
    first = run(db, store(source, make_sink(klaviyo)))
    assert first.scored is not None
    before = segments_of(first.scored)
    later = NOW + timedelta(days=2)
    buy_again(source.orders, PEOPLE[:30], later)
    second = run(db, store(source, make_sink(klaviyo)), at=later)
    assert second.outcome == "ok", second.sinks[0].error
    assert second.scored is not None
    after = segments_of(second.scored)
    assert held(klaviyo) == expected(klaviyo, after)
    for p in PEOPLE[:250]:
        props = klaviyo.by_email(p.email.strip()).properties  # type: ignore[union-attr]
        if before.get(p.key) != after.get(p.key):
            assert (props["rfm_previous_segment"], props["rfm_segment_changed_at"]) == (before[p.key], "2026-11-03")
        else:
            assert (props["rfm_previous_segment"], props["rfm_segment_changed_at"]) == ("", "2026-11-01")
    writes = klaviyo.writes
    third = run(db, store(source, make_sink(klaviyo)), at=later)
    assert third.outcome == "ok" and klaviyo.writes == writes


def test_add_missing_creates_profiles_without_consent_and_keeps_refused_rows(klaviyo: FakeKlaviyo,
                                                                            db: Database) -> None:
    people = [*PEOPLE, person(1000)]
    orders = orders_for(people)
    orders.append(orders[-1].model_copy(update={"order_id": "bad", "customer_key": "typo", "email": "not-an-email"}))
    summary = run(db, store(MemorySource(orders, page_size=500), make_sink(klaviyo, add_missing=True)))
    assert summary.scored is not None
    segmented = segments_of(summary.scored)
    assert klaviyo.created_profiles == sum(1 for p in people[250:] if p.key in segmented)
    assert {p.subscriptions for p in klaviyo.profiles.values()} == {"SUBSCRIBED", "NEVER_SUBSCRIBED"}
    assert klaviyo.consent_calls == 0
    outcome = summary.sinks[0]
    assert "typo" in segmented and outcome.rejected == 1
    rows = db.conn.execute("SELECT record_key, reason FROM rejects WHERE origin = 'sink'").fetchall()
    assert rows == [("typo", "Klaviyo refused the profile: invalid Invalid email address")]


def test_leaving_every_segment_clears_the_properties(klaviyo: FakeKlaviyo, db: Database) -> None:
    source = MemorySource(orders_for(PEOPLE), page_size=500)
    run(db, store(source, make_sink(klaviyo)))
    # window_days of 30: most customers' orders fall out of the window and they leave every segment.
    narrow = StoreRuntime(name="shop", tz_name="UTC", settings=RfmSettings(scheme="classic"), sources=[source],
                          sinks=[make_sink(klaviyo)], window_days=30)
    summary = run(db, narrow, at=NOW + timedelta(days=1))
    assert summary.outcome == "ok" and summary.scored is not None
    assert held(klaviyo) == expected(klaviyo, segments_of(summary.scored))
    cleared = [p for p in klaviyo.profiles.values() if "rfm_segment" not in p.properties]
    assert cleared and all(set(p.properties) == {"favourite_colour"} for p in cleared)


@pytest.mark.parametrize(("config", "message"), [
    ({"api_key": "pk_wrong"}, "HTTP 401"),
    ({"list_prefix": None, "lists": {"Champions": "NOPE"}}, "no list with id 'NOPE' (segment 'Champions')"),
    ({"list_prefix": None, "lists": {"VIP": "L1"}}, "lists names 'VIP', which is not a segment"),
])
def test_a_wrong_key_or_list_stops_only_this_sink(klaviyo: FakeKlaviyo, db: Database, config: dict[str, Any],
                                                 message: str) -> None:
    summary = run(db, store(MemorySource(orders_for(PEOPLE), page_size=500), make_sink(klaviyo, **config)))
    assert summary.outcome == "partial"
    assert message in (summary.sinks[0].error or "")
    assert KEY not in (summary.sinks[0].error or "")


def test_dry_run_counts_and_sends_nothing(klaviyo: FakeKlaviyo, db: Database) -> None:
    summary = run(db, store(MemorySource(orders_for(PEOPLE), page_size=500), make_sink(klaviyo)), dry_run=True)
    assert klaviyo.received == 0
    lines = summary.sinks[0].preview
    assert lines[0].strip().startswith("273  profiles: rfm_segment, rfm_cell, rfm_previous_segment")
    assert any("added" in line and "list for 'Champions'" in line for line in lines)
