"""The Mailchimp sink against the sink contract, on the loopback Mailchimp fake."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest
from fake_mailchimp import FakeMailchimp
from rfmsync.connectors.mailchimp.sink import MailchimpSink, MailchimpSinkConfig
from rfmsync.connectors.retry import RetryPolicy
from rfmsync.core.diff import Change, ChangeKind
from rfmsync.testing import CUSTOMERS, SEGMENTS, Customer, Fault, SinkContract

LIST = "contract"
PREFIX = "RFM: "


class TestMailchimpSinkContract(SinkContract):
    @pytest.fixture
    def platform(self) -> Iterator[FakeMailchimp]:
        with FakeMailchimp(polls_per_state=0) as fake:
            fake.add_list(LIST)
            yield fake

    def make_sink(self, platform: FakeMailchimp, retry: RetryPolicy) -> MailchimpSink:
        config = MailchimpSinkConfig(type="mailchimp", api_key=platform.api_key, list_id=LIST,
                                     base_url=platform.base_url, poll_seconds=0.01, tag_prefix=PREFIX)
        return MailchimpSink(config, retry=retry, sleep=lambda _: None)

    def prepare(self, platform: FakeMailchimp, customers: Sequence[Customer]) -> None:
        for customer in customers:
            if not platform.has_member(LIST, customer.email):
                platform.add_member(LIST, customer.email, tags=["VIP"])

    def held(self, platform: FakeMailchimp) -> dict[str, str]:
        held = {}
        for customer in CUSTOMERS:
            if platform.has_member(LIST, customer.email):
                ours = [t.removeprefix(PREFIX) for t in platform.member(LIST, customer.email)["tags"]
                        if t.startswith(PREFIX)]
                assert len(ours) <= 1 and "VIP" in platform.member(LIST, customer.email)["tags"]
                if ours:
                    assert ours[0] in SEGMENTS
                    held[customer.key] = ours[0]
        return held

    def cells(self, platform: FakeMailchimp) -> dict[str, str]:
        return {c.key: platform.member(LIST, c.email)["merge_fields"].get("RFM_CELL", "") for c in CUSTOMERS
                if platform.has_member(LIST, c.email)}

    def requests(self, platform: FakeMailchimp) -> int:
        return platform.requests

    def effects(self, platform: FakeMailchimp) -> int:
        snapshot = platform.snapshot()[LIST]
        return len(snapshot) + sum(len(tags) for _, tags, _ in snapshot.values())

    def refused(self) -> Change:
        return Change("k-stranger", ChangeKind.ENTERED, None, "Champions", {"segment": "Champions", "rfm_cell": "555"},
                      email="not.a.member@example.com")

    def inject(self, platform: FakeMailchimp, fault: Fault) -> bool:
        platform.fail_next(fault.status, fault.count, retry_after=fault.retry_after, body=fault.body)
        return True

    def secrets(self, platform: FakeMailchimp) -> list[str]:
        return [platform.api_key]
