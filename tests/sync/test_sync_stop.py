"""Stop means stop: SIGTERM during a long Retry-After wait ends the run within seconds, and the next run resumes."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import synckit
from rfmsync.sync.state import STATE_FILE
from synckit import Processes, WebhookServer, runs_of, wait_until, write_config, write_orders_csv

SECRET = "whsec-test-secret"


def test_sigterm_during_a_retry_after_wait_interrupts_within_5_s_and_the_next_run_resumes(
        tmp_path: Path, procs: Processes) -> None:
    write_orders_csv(tmp_path / "orders.csv")
    with WebhookServer(SECRET, delay=0.0, status=503, retry_after="60") as server:
        server.gate.set()
        config = write_config(tmp_path / "rfmsync.toml", f"""[[stores.shop.sinks]]
type = "webhook"
name = "hook"
url = "{server.url}"
secret = "{SECRET}"
batch_size = 10000
""")
        env = synckit.child_env(RFMSYNC_NOW="2025-06-01T06:00:00Z", HOOK_SECRET=SECRET)
        proc = procs.start([sys.executable, "-m", "rfmsync.sync.cli", "sync", "--config", config], env=env)
        wait_until(lambda: server.requests(), "the first push to be answered 503 with Retry-After: 60", timeout=60)
        time.sleep(0.5)  # well inside the 60 s wait
        asked = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = procs.wait(proc, timeout=30)
        elapsed = time.monotonic() - asked
        assert code == 130, procs.describe(proc)
        assert elapsed < 5.0, f"stopped {elapsed:.1f} s after SIGTERM"
        assert len(server.requests()) == 1  # no retry after the stop
        state = tmp_path / "state" / STATE_FILE
        assert [r[2] for r in runs_of(state)] == ["interrupted"]

        server.status, server.retry_after = 200, None
        proc = procs.start([sys.executable, "-m", "rfmsync.sync.cli", "sync", "--config", config], env=env,
                           name="second")
        assert procs.wait(proc, timeout=60) == 0, procs.describe(proc)
        first_batch = server.requests()[0]
        resent = server.requests()[1]
        assert resent.batch_id == first_batch.batch_id and resent.body["changes"] == first_batch.body["changes"]
        assert [r[2] for r in runs_of(state)] == ["interrupted", "ok"]
