"""Contract suites every connector's tests start from (install rfmsync with its `test` extra).

    from rfmsync.testing import SinkContract

    class TestMySink(SinkContract):
        @pytest.fixture
        def platform(self): ...          # the loopback fake of the platform, started
        def make_sink(self, platform, retry): ...
        def held(self, platform): ...    # key -> segment the platform now shows
        def requests(self, platform): ...

The inherited tests are listed in rfmsync/testing/sinks.py and sources.py.
"""

from __future__ import annotations

from rfmsync.testing.common import NOW, Fault, Sleeps
from rfmsync.testing.sinks import CUSTOMERS, SEGMENTS, Customer, SinkContract, change, held_from_changes
from rfmsync.testing.sources import SourceContract, contract_orders

__all__ = ["CUSTOMERS", "NOW", "SEGMENTS", "Customer", "Fault", "SinkContract", "Sleeps", "SourceContract",
           "change", "contract_orders", "held_from_changes"]
