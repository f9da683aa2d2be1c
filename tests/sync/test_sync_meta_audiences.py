"""The Meta sink through the run loop against the loopback fake Graph API (tests/lib/fake_meta.py):
membership equals each segment's customers with consent, changes only, exactly once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from adkit import buy_again, expected_meta, meta_row, orders_for, person, segments_of
from fake_meta import FakeMeta
from pipelinekit import NOW, MemorySource, run
from rfmsync.connectors.meta.config import MetaSinkConfig
from rfmsync.connectors.meta.sink import MetaSink
from rfmsync.connectors.retry import RetryPolicy
from rfmsync.core.rfm import RfmSettings
from rfmsync.core.schemes import CLASSIC
from rfmsync.sync.pipeline import StoreRuntime
from rfmsync.sync.state import Database

PEOPLE = [person(n) for n in range(1, 401)]
BY_KEY = {p.key: p for p in PEOPLE}


@pytest.fixture
def meta() -> Iterator[FakeMeta]:
    with FakeMeta() as fake:
        yield fake


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def make_sink(meta: FakeMeta, sleeps: Sleeps | None = None, *, retry: RetryPolicy | None = None,
              consent_required: bool = True, **config: Any) -> MetaSink:
    settings: dict[str, Any] = {"type": "meta", "access_token": "meta-token", "ad_account_id": "act_100",
                                "base_url": meta.base_url, "default_phone_region": "DE", **config}
    return MetaSink(MetaSinkConfig.model_validate(settings), consent_required=consent_required,
                    retry=retry or RetryPolicy(sleep=sleeps if sleeps is not None else Sleeps(), base_delay=0.01))


def store(source: MemorySource, *sinks: MetaSink) -> StoreRuntime:
    return StoreRuntime(name="shop", tz_name="UTC", settings=RfmSettings(scheme="classic"), sources=[source],
                        sinks=list(sinks))


def held(meta: FakeMeta, prefix: str = "RFM: ") -> dict[str, set[tuple[str, ...]]]:
    return {a.name.removeprefix(prefix): set(a.members) for a in meta.audiences.values()
            if a.subtype == "CUSTOM" and a.members}


def test_first_sync_fills_one_audience_per_segment_with_consenting_customers(meta: FakeMeta, db: Database) -> None:
    source = MemorySource(orders_for(PEOPLE), page_size=500)
    summary = run(db, store(source, make_sink(meta)))
    assert summary.outcome == "ok", summary.sinks[0].error
    assert summary.scored is not None
    expected = expected_meta(BY_KEY, segments_of(summary.scored))
    assert held(meta) == expected
    # Nothing raw: every value sent is a hash, the fake counted no invalid entry, no token in a URL.
    assert meta.invalid_entries == 0 and meta.tokens_in_urls == 0
    outcome = summary.sinks[0]
    assert outcome.audiences == {segment: len(rows) for segment, rows in expected.items()}
    consenting = sum(len(rows) for rows in expected.values())
    assert outcome.accepted == consenting
    assert outcome.not_sendable == len(segments_of(summary.scored)) - consenting > 0
    # One add per audience: 400 customers fit one request each.
    assert sorted(op for op, _, _ in meta.sent) == ["add"] * len(expected)


def test_movers_are_removed_and_added_and_nobody_else_is_sent(meta: FakeMeta, db: Database) -> None:
    source = MemorySource(orders_for(PEOPLE), page_size=500)
    first = run(db, store(source, make_sink(meta)))
    assert first.scored is not None
    before = segments_of(first.scored)
    meta.sent.clear()
    # New orders for 40 customers, a day later.
    later = NOW + timedelta(days=1)
    buy_again(source.orders, PEOPLE[:40], later)
    second = run(db, store(source, make_sink(meta)), at=later)
    assert second.outcome == "ok" and second.scored is not None
    after = segments_of(second.scored)
    assert held(meta) == expected_meta(BY_KEY, after)
    movers = {k for k in after if before.get(k) != after[k]} | {k for k in before if k not in after}
    moved_rows = {meta_row(BY_KEY[k]) for k in movers} - {None}
    assert moved_rows, "the new orders must move someone with consent"
    sent_adds = [row for op, _, rows in meta.sent if op == "add" for row in rows]
    sent_removes = [row for op, _, rows in meta.sent if op == "remove" for row in rows]
    entered = {meta_row(BY_KEY[k]) for k in movers if k in after} - {None}
    left = {meta_row(BY_KEY[k]) for k in movers if k in before} - {None}
    assert sorted(sent_adds) == sorted(entered) and sorted(sent_removes) == sorted(left)
    # A quiet run: nothing sent at all.
    requests = meta.received
    third = run(db, store(source, make_sink(meta)), at=later)
    assert third.outcome == "ok" and meta.received == requests


def test_a_crash_mid_batch_is_replayed_without_duplicates(meta: FakeMeta, db: Database) -> None:
    source = MemorySource(orders_for(PEOPLE), page_size=500)
    # The third add fails and is not retried: its batch stays in the outbox, the run ends there.
    meta.faults.at_request(3, 503, kind="add users")
    first = run(db, store(source, make_sink(meta, batch_size=60, retry=RetryPolicy(max_attempts=1))))
    assert first.outcome == "partial" and "503" in (first.sinks[0].error or "")
    second = run(db, store(source, make_sink(meta, batch_size=60)))
    assert second.outcome == "ok" and second.scored is not None
    assert second.sinks[0].replayed_batches == 1
    assert held(meta) == expected_meta(BY_KEY, segments_of(second.scored))
    # Every customer was added once, except the replayed batch's, whose rows went out twice at most.
    added = [row for op, _, rows in meta.sent if op == "add" for row in rows]
    assert len(added) - len(set(added)) <= 60


def test_only_the_configured_segments_get_audiences(meta: FakeMeta, db: Database) -> None:
    source = MemorySource(orders_for(PEOPLE), page_size=500)
    summary = run(db, store(source, make_sink(meta, segments=["Champions", "At Risk"], audience_prefix="Shop "))
                  )
    assert summary.scored is not None
    assert held(meta, "Shop ") == expected_meta(BY_KEY, segments_of(summary.scored), {"Champions", "At Risk"})
    assert {a.name for a in meta.audiences.values()} == {"Shop Champions", "Shop At Risk"}


def test_the_lookalike_is_created_once_when_the_seed_has_100(meta: FakeMeta, db: Database) -> None:
    many = [person(n) for n in range(1, 2001)]
    source = MemorySource(orders_for(many), page_size=5000)
    lookalike = {"seed": "Lost", "country": "de", "ratio": 0.02}
    summary = run(db, store(source, make_sink(meta, lookalike=lookalike)))
    assert summary.outcome == "ok", summary.sinks[0].error
    seed_size = summary.sinks[0].audiences["Lost"]
    assert seed_size >= 100
    lookalikes = [a for a in meta.audiences.values() if a.subtype == "LOOKALIKE"]
    assert len(lookalikes) == 1
    assert lookalikes[0].origin == meta.by_name("RFM: Lost").id
    assert lookalikes[0].spec == {"ratio": 0.02, "country": "DE"}
    assert any("lookalike" in note and "created" in note for note in summary.sinks[0].notes)
    source.orders.append(orders_for([many[0]], seed=3)[0].model_copy(update={"order_id": "x1"}))
    again = run(db, store(source, make_sink(meta, lookalike=lookalike)), at=NOW + timedelta(days=1))
    assert again.outcome == "ok"
    assert len([a for a in meta.audiences.values() if a.subtype == "LOOKALIKE"]) == 1


def test_a_small_seed_waits_with_a_note(meta: FakeMeta, db: Database) -> None:
    source = MemorySource(orders_for(PEOPLE[:50]), page_size=500)
    summary = run(db, store(source, make_sink(meta, lookalike={"seed": "Champions", "country": "DE"})))
    assert summary.outcome == "ok"
    notes = summary.sinks[0].notes
    assert any("lookalike not created yet" in n and "Meta needs 100" in n for n in notes)
    assert any("below the 100" in n for n in notes)
    assert not [a for a in meta.audiences.values() if a.subtype == "LOOKALIKE"]


def test_throttling_waits_minutes_and_then_goes_on(meta: FakeMeta, db: Database) -> None:
    sleeps = Sleeps()
    meta.throttle_next(2)
    summary = run(db, store(MemorySource(orders_for(PEOPLE), page_size=500), make_sink(meta, sleeps)))
    assert summary.outcome == "ok", summary.sinks[0].error
    assert sleeps[:2] == [60.0, 120.0]  # no Retry-After from Meta: a minute, then doubled


@pytest.mark.parametrize(("setup", "expected"), [
    ("token", "access token was refused (code 190)"),
    ("account", "in act_999: refused (code 100, subcode 33): no such ad account or audience"),
    ("flagged", "flagged by Meta (operation_status 471, code 100, subcode 1713230)"),
    ("permission", "permission missing (code 200); the system user needs ads_management"),
    ("segments", "segments names 'VIP', which is not a segment of the store's scheme"),
])
def test_platform_refusals_stop_only_this_sink_and_say_which(meta: FakeMeta, db: Database, setup: str,
                                                             expected: str) -> None:
    config: dict[str, Any] = {}
    if setup == "token":
        config["access_token"] = "revoked"
    elif setup == "account":
        config["ad_account_id"] = "act_999"
    elif setup == "permission":
        meta.missing_permission = True
    elif setup == "segments":
        config["segments"] = ["Champions", "VIP"]
    else:
        for segment in CLASSIC.segment_names:
            meta.add_audience(f"RFM: {segment}").operation_status = 471
    summary = run(db, store(MemorySource(orders_for(PEOPLE), page_size=500), make_sink(meta, **config)))
    assert summary.outcome == "partial"
    assert expected in (summary.sinks[0].error or "")
    assert "@" not in (summary.sinks[0].error or "")


def test_full_resync_makes_drifted_audiences_exact(meta: FakeMeta, db: Database) -> None:
    source = MemorySource(orders_for(PEOPLE), page_size=500)
    run(db, store(source, make_sink(meta)))
    champions = meta.by_name("RFM: Champions")
    champions.members.add(("f" * 64, ""))  # someone added by hand, or a removal Meta lost
    champions.members.discard(next(iter(champions.members)))
    sent = len(meta.sent)
    summary = run(db, store(source, make_sink(meta)), full_resync=True)
    assert summary.outcome == "ok" and summary.scored is not None
    assert held(meta) == expected_meta(BY_KEY, segments_of(summary.scored))
    assert {op for op, _, _ in meta.sent[sent:]} == {"replace"}
    # The state matches too: a normal run afterwards sends nothing.
    requests = meta.received
    run(db, store(source, make_sink(meta)), at=NOW + timedelta(minutes=5))
    assert meta.received == requests


def test_dry_run_previews_per_audience_and_sends_nothing(meta: FakeMeta, db: Database) -> None:
    source = MemorySource(orders_for(PEOPLE), page_size=500)
    summary = run(db, store(source, make_sink(meta)), dry_run=True)
    assert meta.received == 0
    assert summary.scored is not None
    expected = expected_meta(BY_KEY, segments_of(summary.scored))
    lines = summary.sinks[0].preview
    assert sorted(lines) == sorted(f"{len(rows):>8,} added, {0:>8,} removed  audience {'RFM: ' + segment!r}"
                                   for segment, rows in expected.items())


def test_without_required_consent_everyone_with_an_identifier_is_sent(meta: FakeMeta, db: Database) -> None:
    sink = make_sink(meta, consent_required=False)
    summary = run(db, store(MemorySource(orders_for(PEOPLE), page_size=500), sink))
    assert summary.scored is not None
    wanted: dict[str, set[tuple[str, str]]] = {}
    for key, segment in segments_of(summary.scored).items():
        row = meta_row(BY_KEY[key], consent_required=False)
        if row:
            wanted.setdefault(segment, set()).add(row)
    assert held(meta) == wanted
    assert sum(map(len, wanted.values())) == sum(1 for p in PEOPLE if p.email or p.e164)

