"""Klaviyo, HubSpot and ActiveCampaign pushes against their loopback fakes: a first push of 100,000
profiles, then 1 % of them moved (by a new process, which knows no profile id yet).

Reports, per platform, the requests made against the fewest the platform's limits allow, and the
time its rate limits impose: every sink paces itself under its platform's limits on a virtual clock
here (the fakes' own limits are lifted), so the imposed time is what the same pushes would wait
against the real platform, without waiting it.

Fewest, per push (E emails, S segments touched, n_s changes of segment s):
- Klaviyo: ceil(E / 100) lookups; ceil(E / 10,000) bulk import jobs, each polled once and its
  errors read once; per segment ceil(n_s / 1,000) list calls; two calls per list created.
- HubSpot: ceil(E / 100) batch reads and ceil(E / 100) upserts; one add-and-remove per list; the
  schema (group and properties) checked once.
- ActiveCampaign: ceil(contacts / 100) pages to learn the ids (or one lookup per email when few);
  ceil(E / 250) bulk imports, each polled once; the custom fields listed once.

    python benchmarks/email_platforms.py [--profiles 100000] [--changes 1000]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "lib"))
from fake_activecampaign import FakeActiveCampaign
from fake_hubspot import FakeHubSpot
from fake_klaviyo import FakeKlaviyo
from rfmsync.connectors.activecampaign.config import ActiveCampaignSinkConfig
from rfmsync.connectors.activecampaign.sink import ActiveCampaignSink
from rfmsync.connectors.base import Sink
from rfmsync.connectors.hubspot.config import HubSpotSinkConfig
from rfmsync.connectors.hubspot.sink import HubSpotSink
from rfmsync.connectors.klaviyo.config import KlaviyoSinkConfig
from rfmsync.connectors.klaviyo.sink import KlaviyoSink
from rfmsync.connectors.retry import RetryPolicy
from rfmsync.core.diff import Change, ChangeKind
from rfmsync.core.schemes import CLASSIC

SEGMENTS = CLASSIC.segment_names
UNLIMITED = {"profiles": ((10**9, 1.0),), "jobs": ((10**9, 1.0),), "lists": ((10**9, 1.0),)}


class Memory(dict[str, str]):
    """The sink memory the run loop gives (list ids kept between runs), in a dict."""

    def put(self, key: str, value: str) -> None:
        self[key] = value


class VirtualClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def first_push(n: int) -> list[Change]:
    return [Change(str(i), ChangeKind.ENTERED, None, SEGMENTS[i % 11], {"segment": SEGMENTS[i % 11],
                   "rfm_cell": "555"}, email=f"customer{i}@example.com") for i in range(n)]


def moved(n: int, changes: int) -> list[Change]:
    step = max(1, n // changes)
    return [Change(str(i), ChangeKind.MOVED, SEGMENTS[i % 11], SEGMENTS[(i + 1) % 11],
                   {"segment": SEGMENTS[(i + 1) % 11], "rfm_cell": "455"}, email=f"customer{i}@example.com")
            for i in range(0, n, step)][:changes]


def push(sink: Sink, changes: Sequence[Change]) -> float:
    started = time.perf_counter()
    for offset in range(0, len(changes), sink.batch_size):
        batch = changes[offset:offset + sink.batch_size]
        result = sink.push(f"bench:{offset}", batch)
        assert len(result.accepted) == len(batch), (len(result.accepted), len(batch), dict(result.rejected))
    return time.perf_counter() - started


def list_calls(changes: Sequence[Change], per_call: int) -> int:
    """Klaviyo's list calls: adds and removals are separate calls, per_call profiles each."""
    added: Counter[str] = Counter(c.new_segment for c in changes if c.new_segment)
    removed: Counter[str] = Counter(c.old_segment for c in changes if c.old_segment and c.kind is ChangeKind.MOVED)
    return sum(math.ceil(n / per_call) for n in [*added.values(), *removed.values()])


def report(name: str, label: str, requests: int, fewest: int, imposed: float, wall: float) -> None:
    print(f"  {name:<15} {label:<11} {requests:>6,} requests (fewest {fewest:>6,})  rate limits impose "
          f"{imposed / 60:>6.1f} min  (wall {wall:.1f} s)")


def run(name: str, fake: Any, make: Callable[[VirtualClock], Any], waited: Callable[[Any], float],
        fewest: Callable[[str, Sequence[Change]], int], n: int, changes: int) -> None:
    memory = Memory()
    for label, batch in (("first push", first_push(n)), ("1% moved", moved(n, changes))):
        clock = VirtualClock()
        sink = make(clock)
        if hasattr(sink, "attach_memory"):
            sink.attach_memory(memory)
        before = fake.received
        wall = push(sink, batch)
        report(name, label, fake.received - before, fewest(label, batch), waited(sink), wall)
        sink.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profiles", type=int, default=100_000)
    parser.add_argument("--changes", type=int, default=1_000)
    args = parser.parse_args()
    n, quiet = args.profiles, RetryPolicy(sleep=lambda _: None)
    emails = [f"customer{i}@example.com" for i in range(n)]
    print(f"{n:,} profiles, all known to each platform; {args.changes:,} moved in the second push")

    with FakeKlaviyo(polls_per_job=1, limits=UNLIMITED) as klaviyo:
        for email in emails:
            klaviyo.add_profile(email)

        def make_klaviyo(clock: VirtualClock) -> KlaviyoSink:
            config = KlaviyoSinkConfig(type="klaviyo", api_key="pk_fake", base_url=klaviyo.base_url,  # type: ignore[arg-type]
                                       poll_seconds=0, list_prefix="RFM ")
            return KlaviyoSink(config, retry=quiet, sleep=clock.sleep, clock=clock)

        def fewest_klaviyo(label: str, batch: Sequence[Change]) -> int:
            jobs = math.ceil(len(batch) / 10_000)
            created = 2 * len(SEGMENTS) if label == "first push" else 0
            return math.ceil(len(batch) / 100) + 3 * jobs + list_calls(batch, 1_000) + created

        run("Klaviyo", klaviyo, make_klaviyo, lambda s: sum(p.waited_seconds for p in s.api.pacers.values()),
            fewest_klaviyo, n, args.changes)

    with FakeHubSpot(per_10_seconds=10**9) as hubspot:
        for email in emails:
            hubspot.add_contact(email)

        def make_hubspot(clock: VirtualClock) -> HubSpotSink:
            config = HubSpotSinkConfig(type="hubspot", access_token="pat-fake", base_url=hubspot.base_url,  # type: ignore[arg-type]
                                       list_prefix="RFM ", daily_limit=10**9)
            return HubSpotSink(config, retry=quiet, sleep=clock.sleep, clock=clock)

        def fewest_hubspot(label: str, batch: Sequence[Change]) -> int:
            # Checked by each new process: the group and each property; created on the first push.
            schema = 3 + (3 if label == "first push" else 0)
            lists = len({c.new_segment for c in batch} | {c.old_segment for c in batch if c.old_segment})
            created = 2 * len(SEGMENTS) if label == "first push" else 0
            return 2 * math.ceil(len(batch) / 100) + schema + lists + created

        run("HubSpot", hubspot, make_hubspot, lambda s: s.api.pacer.waited_seconds, fewest_hubspot, n, args.changes)

    with FakeActiveCampaign(per_second=10**9) as ac:
        for email in emails:
            ac.add_contact(email)

        def make_ac(clock: VirtualClock) -> ActiveCampaignSink:
            config = ActiveCampaignSinkConfig(type="activecampaign", base_url=ac.base_url, api_token="ac-token",  # type: ignore[arg-type]
                                              poll_seconds=0)
            return ActiveCampaignSink(config, retry=quiet, sleep=clock.sleep, clock=clock)

        def fewest_ac(label: str, batch: Sequence[Change]) -> int:
            learn = math.ceil(len(ac.contacts) / 100) if len(batch) >= 200 else len(batch)
            fields = 1 + (2 * 2 if label == "first push" else 0)  # list; create and relate two fields once
            return learn + 2 * math.ceil(len(batch) / 250) + fields

        run("ActiveCampaign", ac, make_ac, lambda s: s.api.pacer.waited_seconds, fewest_ac, n, args.changes)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
