"""The ActiveCampaign sink through the run loop against the loopback fake, its 5-a-second limit on."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from adkit import buy_again, orders_for, person, segments_of
from fake_activecampaign import TOKEN, FakeActiveCampaign
from pipelinekit import NOW, MemorySource, run
from rfmsync.connectors.activecampaign.config import ActiveCampaignSinkConfig
from rfmsync.connectors.activecampaign.sink import ActiveCampaignSink
from rfmsync.connectors.retry import RetryPolicy
from rfmsync.core.rfm import RfmSettings
from rfmsync.sync.pipeline import StoreRuntime
from rfmsync.sync.state import Database

PEOPLE = [person(n) for n in range(1, 301) if n % 11]  # 273, all with an email


@pytest.fixture
def ac() -> Iterator[FakeActiveCampaign]:
    with FakeActiveCampaign() as fake:
        for p in PEOPLE[:250]:
            fake.add_contact((p.email or "").strip())
        yield fake


def make_sink(ac: FakeActiveCampaign, **config: Any) -> ActiveCampaignSink:
    settings: dict[str, Any] = {"type": "activecampaign", "base_url": ac.base_url, "api_token": TOKEN,
                                "fields": ["segment", "previous_segment"], "tags": True, "poll_seconds": 0.2,
                                **config}
    return ActiveCampaignSink(ActiveCampaignSinkConfig.model_validate(settings), retry=RetryPolicy(base_delay=0.05))


def store(source: MemorySource, sink: ActiveCampaignSink) -> StoreRuntime:
    return StoreRuntime(name="shop", tz_name="UTC", settings=RfmSettings(scheme="classic"), sources=[source],
                        sinks=[sink])


def held(ac: FakeActiveCampaign) -> dict[str, tuple[str | None, set[str]]]:
    return {c.email: (ac.value(c, "RFM_SEGMENT"), ac.tag_names(c)) for c in ac.contacts.values()}


def expected(ac: FakeActiveCampaign, segments: dict[str, str]) -> dict[str, tuple[str | None, set[str]]]:
    by_email = {(p.email or "").strip().lower(): p.key for p in PEOPLE}
    out = {}
    for contact in ac.contacts.values():
        segment = segments.get(by_email.get(contact.email, ""))
        out[contact.email] = (segment, {f"RFM: {segment}"} if segment else set())
    return out


def test_fields_and_tags_exact_no_list_status_touched_and_paced(ac: FakeActiveCampaign, db: Database) -> None:
    source = MemorySource(orders_for(PEOPLE), page_size=500)
    first = run(db, store(source, make_sink(ac)))
    assert first.outcome == "ok", first.sinks[0].error
    assert first.scored is not None
    before = segments_of(first.scored)
    assert held(ac) == expected(ac, before)
    assert all(c.lists == {"1": "active"} and c.fields["1"] == "green" for c in ac.contacts.values())
    assert (ac.created, ac.consent_writes, ac.tags_deleted, ac.throttled) == (0, 0, 0, 0)
    assert (first.sinks[0].accepted, first.sinks[0].skipped) == (250, 23)
    later = NOW + timedelta(days=2)
    buy_again(source.orders, PEOPLE[:12], later)
    second = run(db, store(source, make_sink(ac)), at=later)
    assert second.outcome == "ok", second.sinks[0].error
    assert second.scored is not None
    after = segments_of(second.scored)
    assert held(ac) == expected(ac, after)
    for p in PEOPLE[:250]:
        if before.get(p.key) != after.get(p.key):
            assert ac.value(ac.by_email(p.email or ""), "RFM_PREVIOUS_SEGMENT") == before[p.key]
    # A new process right after the last one may meet the last second's requests once (then waits).
    assert ac.throttled <= 1 and ac.tags_deleted == 0
    writes = ac.writes
    run(db, store(source, make_sink(ac)), at=later)
    assert ac.writes == writes


@pytest.mark.parametrize(("config", "message"), [
    ({"api_token": "wrong"}, "HTTP 403"),
    ({"base_url": "http://127.0.0.1:9/elsewhere"}, "ConnectionError"),
])
def test_a_wrong_token_or_url_stops_only_this_sink(ac: FakeActiveCampaign, db: Database, config: dict[str, Any],
                                                   message: str) -> None:
    sink = make_sink(ac, **config)
    sink.retry = RetryPolicy(max_attempts=1)
    sink.api.http.retry = sink.retry
    summary = run(db, store(MemorySource(orders_for(PEOPLE[:20]), page_size=500), sink))
    assert summary.outcome == "partial" and message in (summary.sinks[0].error or "")
    assert TOKEN not in (summary.sinks[0].error or "")
