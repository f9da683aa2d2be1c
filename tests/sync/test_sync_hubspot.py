"""The HubSpot sink through the run loop against the loopback fake (tests/lib/fake_hubspot.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from adkit import buy_again, orders_for, person, segments_of
from fake_hubspot import TOKEN, FakeHubSpot
from pipelinekit import NOW, MemorySource, run
from rfmsync.connectors.hubspot.config import HubSpotSinkConfig
from rfmsync.connectors.hubspot.sink import HubSpotSink
from rfmsync.connectors.retry import RetryPolicy
from rfmsync.core.rfm import RfmSettings
from rfmsync.sync.pipeline import StoreRuntime
from rfmsync.sync.state import Database

PEOPLE = [person(n) for n in range(1, 301) if n % 11]  # 273, all with an email
FIELDS = ["segment", "rfm_cell", "previous_segment", "segment_changed_at"]


@pytest.fixture
def hubspot() -> Iterator[FakeHubSpot]:
    with FakeHubSpot() as fake:
        for p in PEOPLE[:250]:
            assert p.email
            fake.add_contact(p.email.strip(), firstname="Ada")
        yield fake


def make_sink(hubspot: FakeHubSpot, **config: Any) -> HubSpotSink:
    settings: dict[str, Any] = {"type": "hubspot", "access_token": TOKEN, "base_url": hubspot.base_url,
                                "fields": FIELDS, "list_prefix": "RFM ", **config}
    return HubSpotSink(HubSpotSinkConfig.model_validate(settings), retry=RetryPolicy(base_delay=0.05))


def store(source: MemorySource, sink: HubSpotSink) -> StoreRuntime:
    return StoreRuntime(name="shop", tz_name="UTC", settings=RfmSettings(scheme="classic"), sources=[source],
                        sinks=[sink])


def expected(hubspot: FakeHubSpot, segments: dict[str, str]) -> dict[str, tuple[str | None, set[str]]]:
    by_email = {p.email.strip().lower(): p.key for p in PEOPLE if p.email}
    out = {}
    for contact in hubspot.contacts.values():
        segment = segments.get(by_email.get(contact.email, ""))
        out[contact.id] = (segment, {f"RFM {segment}"} if segment else set())
    return out


def held(hubspot: FakeHubSpot) -> dict[str, tuple[str | None, set[str]]]:
    return {c.id: (c.properties.get("rfm_segment"), {h.name for h in hubspot.lists.values() if c.id in h.members})
            for c in hubspot.contacts.values()}


def test_contacts_get_their_properties_and_lists_and_nothing_else(hubspot: FakeHubSpot, db: Database) -> None:
    summary = run(db, store(MemorySource(orders_for(PEOPLE), page_size=500), make_sink(hubspot)))
    assert summary.outcome == "ok", summary.sinks[0].error
    assert summary.scored is not None
    assert held(hubspot) == expected(hubspot, segments_of(summary.scored))
    assert hubspot.created == 0 and hubspot.consent_writes == 0 and hubspot.throttled == 0
    assert {"rfm_segment", "rfm_cell", "rfm_previous_segment", "rfm_segment_changed_at"} <= set(hubspot.properties)
    assert hubspot.groups == {"rfm"}
    assert (summary.sinks[0].accepted, summary.sinks[0].skipped) == (250, 23)
    # 3 batch reads and 3 upserts of 100, the schema once, one list call per segment (+ its creation).
    kinds = [kind for kind, _ in hubspot.journal]
    assert (kinds.count("read"), kinds.count("upsert")) == (3, 3)


def test_movers_history_and_a_quiet_run(hubspot: FakeHubSpot, db: Database) -> None:
    source = MemorySource(orders_for(PEOPLE), page_size=500)
    first = run(db, store(source, make_sink(hubspot)))
    assert first.scored is not None
    before = segments_of(first.scored)
    later = NOW + timedelta(days=2)
    buy_again(source.orders, PEOPLE[:30], later)
    second = run(db, store(source, make_sink(hubspot)), at=later)
    assert second.outcome == "ok", second.sinks[0].error
    assert second.scored is not None
    after = segments_of(second.scored)
    assert held(hubspot) == expected(hubspot, after)
    moved = [p for p in PEOPLE[:250] if before.get(p.key) != after.get(p.key)]
    assert moved
    for p in moved:
        props = hubspot.by_email(p.email or "").properties
        assert (props.get("rfm_previous_segment"), props["rfm_segment_changed_at"]) == (before[p.key], "2026-11-03")
    writes = hubspot.writes
    run(db, store(source, make_sink(hubspot)), at=later)
    assert hubspot.writes == writes


def test_add_missing_creates_contacts_and_a_refused_input_is_a_reject(hubspot: FakeHubSpot, db: Database) -> None:
    orders = orders_for(PEOPLE)
    orders.append(orders[0].model_copy(update={"order_id": "bad", "customer_key": "typo", "email": "not-an-email"}))
    summary = run(db, store(MemorySource(orders, page_size=500), make_sink(hubspot, add_missing=True)))
    assert summary.scored is not None
    segmented = segments_of(summary.scored)
    assert hubspot.created == sum(1 for p in PEOPLE[250:] if p.key in segmented)
    assert "typo" in segmented and summary.sinks[0].rejected == 1
    rows = db.conn.execute("SELECT record_key, reason FROM rejects WHERE origin = 'sink'").fetchall()
    assert rows == [("typo", "HubSpot refused the contact: VALIDATION_ERROR")]


@pytest.mark.parametrize(("config", "message"), [
    ({"access_token": "pat-wrong"}, "HTTP 401"),
    ({"access_token": "pat-noscope"}, "HTTP 403"),
    ({"list_prefix": None, "lists": {"Champions": "9999"}}, "no list with id '9999' (segment 'Champions')"),
])
def test_a_wrong_token_or_list_stops_only_this_sink(hubspot: FakeHubSpot, db: Database, config: dict[str, Any],
                                                   message: str) -> None:
    summary = run(db, store(MemorySource(orders_for(PEOPLE), page_size=500), make_sink(hubspot, **config)))
    assert summary.outcome == "partial" and message in (summary.sinks[0].error or "")


def test_a_dynamic_list_is_refused_with_the_reason(hubspot: FakeHubSpot, db: Database) -> None:
    dynamic = hubspot.add_list("Active buyers", processing="DYNAMIC")
    summary = run(db, store(MemorySource(orders_for(PEOPLE), page_size=500),
                            make_sink(hubspot, list_prefix=None, lists={"Champions": dynamic})))
    assert "only MANUAL lists can be written" in (summary.sinks[0].error or "")


def test_the_daily_limit_stops_the_run_before_it_is_passed(hubspot: FakeHubSpot, db: Database) -> None:
    summary = run(db, store(MemorySource(orders_for(PEOPLE), page_size=500), make_sink(hubspot, daily_limit=5)))
    assert summary.outcome == "partial" and "reach the daily limit of 5" in (summary.sinks[0].error or "")
    assert hubspot.received == 5
