"""The Meta and Google sinks against the sink contract, on their loopback fakes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fake_google import FakeGoogle
from fake_meta import FakeMeta
from rfmsync.connectors.google.config import GoogleSinkConfig
from rfmsync.connectors.google.sink import GoogleSink
from rfmsync.connectors.identifiers import google_email, meta_email, meta_phone, sha256_hex
from rfmsync.connectors.meta.config import MetaSinkConfig
from rfmsync.connectors.meta.sink import MetaSink
from rfmsync.connectors.retry import RetryPolicy
from rfmsync.testing import CUSTOMERS, Fault, SinkContract


class TestMetaSinkContract(SinkContract):
    @pytest.fixture
    def platform(self) -> Iterator[FakeMeta]:
        with FakeMeta() as fake:
            yield fake

    def make_sink(self, platform: FakeMeta, retry: RetryPolicy) -> MetaSink:
        config = MetaSinkConfig(type="meta", access_token=platform.token, ad_account_id=platform.ad_account,
                                base_url=platform.base_url, default_phone_region="DE")
        return MetaSink(config, retry=retry)

    def held(self, platform: FakeMeta) -> dict[str, str]:
        rows = {}
        for c in CUSTOMERS:
            phone = meta_phone(c.phone, "DE")
            rows[(sha256_hex(meta_email(c.email) or ""), sha256_hex(phone) if phone else "")] = c.key
        held: dict[str, str] = {}
        for audience in platform.audiences.values():
            for row in audience.members:
                assert row in rows, "a row rfmsync did not send"
                assert rows[row] not in held, "a customer in two audiences"
                held[rows[row]] = audience.name.removeprefix("RFM: ")
        return held

    def requests(self, platform: FakeMeta) -> int:
        return platform.received

    def effects(self, platform: FakeMeta) -> int:
        return sum(len(a.members) for a in platform.audiences.values()) + len(platform.audiences)

    def inject(self, platform: FakeMeta, fault: Fault) -> bool:
        platform.faults.add(fault.status, fault.count, retry_after=fault.retry_after, body=fault.body)
        return True

    def secrets(self, platform: FakeMeta) -> list[str]:
        return [platform.token]


class _Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


LISTS = {"Champions": "555", "At Risk": "556", "Lost": "557"}


class TestGoogleSinkContract(SinkContract):
    @pytest.fixture
    def platform(self) -> Iterator[FakeGoogle]:
        with FakeGoogle(lists=tuple(LISTS.values()), polls_per_request=1) as fake:
            yield fake

    def make_sink(self, platform: FakeGoogle, retry: RetryPolicy) -> GoogleSink:
        config = GoogleSinkConfig(type="google", access_token="ya29.fake", operating_account_id="1234567890",
                                  user_lists=LISTS, base_url=platform.base_url, default_phone_region="DE",
                                  poll_seconds=1)
        clock = _Clock()
        return GoogleSink(config, retry=retry, sleep=clock.sleep, clock=clock)

    def held(self, platform: FakeGoogle) -> dict[str, str]:
        keys = {sha256_hex(google_email(c.email) or ""): c.key for c in CUSTOMERS}
        held: dict[str, str] = {}
        for segment, list_id in LISTS.items():
            for member in platform.members("1234567890", list_id):
                email = dict(member)["emailAddress"]
                assert email in keys and keys[email] not in held
                held[keys[email]] = segment
        return held

    def requests(self, platform: FakeGoogle) -> int:
        return platform.received

    def effects(self, platform: FakeGoogle) -> int:
        return sum(len(m) for m in platform.snapshot().values())

    def inject(self, platform: FakeGoogle, fault: Fault) -> bool:
        platform.faults.add(fault.status, fault.count, retry_after=fault.retry_after, body=fault.body)
        return True

    def secrets(self, platform: FakeGoogle) -> list[str]:
        return ["ya29.fake"]
