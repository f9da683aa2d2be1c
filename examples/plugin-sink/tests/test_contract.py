"""The example sink against rfmsync's sink contract: a new connector's test file is these lines."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fake_crm import TOKEN, FakeCrm
from rfmsync.connectors.retry import RetryPolicy
from rfmsync.core.diff import Change, ChangeKind
from rfmsync.testing import Fault, SinkContract
from rfmsync_example_crm import ExampleCrmConfig, ExampleCrmSink


class TestExampleCrmSink(SinkContract):
    @pytest.fixture
    def platform(self) -> Iterator[FakeCrm]:
        with FakeCrm() as crm:
            yield crm

    def make_sink(self, platform: FakeCrm, retry: RetryPolicy) -> ExampleCrmSink:
        config = ExampleCrmConfig(type="example_crm", base_url=platform.base_url, token=TOKEN)
        return ExampleCrmSink(config, retry)

    def held(self, platform: FakeCrm) -> dict[str, str]:
        return platform.segments()

    def cells(self, platform: FakeCrm) -> dict[str, str]:
        return {key: c["rfm_cell"] for key, c in platform.contacts.items() if c["rfm_cell"]}

    def requests(self, platform: FakeCrm) -> int:
        return platform.received

    def effects(self, platform: FakeCrm) -> int:
        return len(platform.contacts)

    def refused(self) -> Change:
        return Change("k-blocked", ChangeKind.ENTERED, None, "Champions", {"segment": "Champions", "rfm_cell": "555"},
                      email="someone@blocked.example")

    def inject(self, platform: FakeCrm, fault: Fault) -> bool:
        platform.faults.add(fault.status, fault.count, body=fault.body, retry_after=fault.retry_after)
        return True

    def secrets(self, platform: FakeCrm) -> list[str]:
        return [TOKEN]
