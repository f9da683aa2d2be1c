"""Mailchimp pushes against the loopback fake: first push of 100,000 members, then 1,000 changes.

Reports requests made against the fewest the batch limits allow, and wall time. The fewest: the
one-off setup (audience check, merge-field list, a creation per missing merge field), then per
/batches call one POST, one status poll and one archive download, with ceil(changes / 500) calls
(500 members, 1,000 operations, per batch; docs/platforms.md §4.2, §4.6).

    python benchmarks/mailchimp.py [--members 100000] [--changes 1000]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

# Python puts this script's folder first on sys.path; the tests' folder holds the fake.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "lib"))
from fake_mailchimp import FakeMailchimp
from rfmsync.connectors.mailchimp.config import DEFAULT_BATCH_SIZE, MailchimpSinkConfig
from rfmsync.connectors.mailchimp.sink import MailchimpSink
from rfmsync.connectors.retry import RetryPolicy
from rfmsync.core.diff import Change, ChangeKind
from rfmsync.core.schemes import CLASSIC

LIST = "bench"
SETUP_REQUESTS = 4  # audience check, merge-field list, two merge-field creations


def push(sink: MailchimpSink, changes: list[Change]) -> float:
    start = time.perf_counter()
    for offset in range(0, len(changes), sink.batch_size):
        result = sink.push(f"bench:{offset}", changes[offset:offset + sink.batch_size])
        assert len(result.accepted) == len(changes[offset:offset + sink.batch_size])
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--changes", type=int, default=1_000)
    args = parser.parse_args()
    segments = CLASSIC.segment_names
    with FakeMailchimp(polls_per_state=0) as fake:
        fake.add_list(LIST)
        emails = fake.generate_members(LIST, args.members, seed=1, mix={"subscribed": 1.0})
        sink = MailchimpSink(MailchimpSinkConfig(type="mailchimp", api_key=fake.api_key, list_id=LIST,  # type: ignore[arg-type]
                                                 base_url=fake.base_url, poll_seconds=0.01),
                             retry=RetryPolicy(sleep=lambda _: None))
        sink.set_segments(segments)
        first = [Change(str(i), ChangeKind.ENTERED, None, segments[i % 11], {"segment": segments[i % 11],
                 "rfm_cell": "555"}, email=email) for i, email in enumerate(emails)]
        first_seconds = push(sink, first)
        first_requests, first_writes = fake.requests, fake.write_requests
        moved = [Change(str(i), ChangeKind.MOVED, segments[i % 11], segments[(i + 1) % 11],
                        {"segment": segments[(i + 1) % 11], "rfm_cell": "455"}, email=emails[i])
                 for i in range(0, args.members, max(1, args.members // args.changes))][:args.changes]
        incremental_seconds = push(sink, moved)
        incremental_requests = fake.requests - first_requests
        incremental_writes = fake.write_requests - first_writes
        assert fake.status_changes == [] and fake.max_concurrent <= 10

    def fewest(changes: int, setup: int) -> int:
        return setup + 3 * math.ceil(changes / DEFAULT_BATCH_SIZE)

    print(f"\nMailchimp sink against the fake: {args.members:,} members, batches of {DEFAULT_BATCH_SIZE} members\n")
    print(f"{'push':<30} {'requests':>9} {'fewest':>7} {'writes':>7} {'wall s':>7} {'members/s':>10}")
    for label, n, requests, writes, seconds, setup in (
            (f"first push, {len(first):,} entered", len(first), first_requests, first_writes, first_seconds,
             SETUP_REQUESTS),
            (f"incremental, {len(moved):,} moved", len(moved), incremental_requests, incremental_writes,
             incremental_seconds, 0)):
        print(f"{label:<30} {requests:>9,} {fewest(n, setup):>7,} {writes:>7,} {seconds:>7.1f} {n / seconds:>10,.0f}")
    print("\nwrites: POST /batches calls (and merge-field creations); every member's PATCH and tag update "
          "travel inside them.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
