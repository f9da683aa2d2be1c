"""Two `rfmsync sync` processes on one state: the store runs once.

The store pushes to a webhook on a loopback server that holds its first answer until the test has
seen the second process finish, so the first run is certainly in progress while the second one
starts and gives up, whatever the machine's load.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import synckit as kit
from rfmsync.sync import runs
from rfmsync.sync.state import Database
from synckit import RFMSYNC, STORE, WebhookServer

SECRET = "s3cret-for-the-loopback-hook"
BATCH_SIZE = 60


@pytest.fixture
def server() -> Iterator[WebhookServer]:
    with WebhookServer(SECRET, delay=0.3) as running:
        yield running


def _config(tmp_path: Path, server: WebhookServer) -> Path:
    kit.write_orders_csv(tmp_path / "orders.csv")
    return kit.write_config(tmp_path / "rfmsync.toml", f"""
[[stores.shop.sinks]]
type = "webhook"
name = "hook"
url = "{server.url}"
secret = "${{RFMSYNC_TEST_HOOK_SECRET}}"
batch_size = {BATCH_SIZE}
timeout_seconds = 120
""")


def _lease_taken(state_file: Path) -> bool:
    if not state_file.exists():
        return False
    try:
        return bool(kit.query(state_file, "SELECT holder FROM leases WHERE store = ?", (STORE,)))
    except sqlite3.OperationalError:  # the first process is still creating the tables
        return False


def _first_to_exit(procs: kit.Processes, pair: list[subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    def done() -> subprocess.Popen[bytes] | None:
        return next((p for p in pair if p.poll() is not None), None)
    ended: subprocess.Popen[bytes] = kit.wait_until(done, "one of the two processes to exit", timeout=60)
    return ended


@pytest.mark.parametrize("start", ["second-after-the-lease-is-taken", "both-at-once-on-a-new-state"])
def test_two_sync_processes_run_the_store_once(start: str, tmp_path: Path, procs: kit.Processes,
                                               server: WebhookServer) -> None:
    config = _config(tmp_path, server)
    state_file = tmp_path / "state" / "state.sqlite3"
    env = kit.child_env(RFMSYNC_TEST_HOOK_SECRET=SECRET)
    args = [RFMSYNC, "sync", "--config", config]

    first = procs.start(args, env, name="first")
    if start == "second-after-the-lease-is-taken":
        kit.wait_until(lambda: _lease_taken(state_file), "the first process to take the lease", 60,
                       [(procs, first)])
    second = procs.start(args, env, name="second")
    loser = _first_to_exit(procs, [first, second])
    # The runner's first push is still held by the server: whoever exited did not run the store.
    assert len(server.requests()) <= 1
    server.gate.set()
    winner = second if loser is first else first
    assert procs.wait(winner, timeout=60) == 0, procs.describe(winner)
    assert loser.returncode == 1, procs.describe(loser)
    if start == "second-after-the-lease-is-taken":
        assert loser is second

    assert procs.stderr(loser).strip() == (f"rfmsync: store {STORE} is being run by another process; "
                                           "try again when it is done")
    assert procs.stdout(loser) == ""
    out = procs.stdout(winner)
    assert f"store {STORE}: run 1 ok; 675 orders pulled" in out, out
    expected = kit.customers_counted()
    assert f"sink hook: {len(expected)} changes sent, {len(expected)} accepted, 0 rejected (ok)" in out, out

    # One run, finished, its lease released and nothing left in the outbox.
    assert kit.runs_of(state_file) == [(1, "sync", "ok", None)]
    assert kit.count(state_file, "leases") == 0
    assert kit.count(state_file, "outbox") == 0
    assert kit.ledger_orders(state_file) == 675

    # The receiver got every change exactly once, in order, signed with the secret from the environment.
    received = server.requests()
    batches = -(-len(expected) // BATCH_SIZE)
    assert [r.batch_id for r in received] == [f"{STORE}:hook:1:{i}" for i in range(batches)]
    assert all(r.signed for r in received)
    assert [r.body["batch_id"] for r in received] == [r.batch_id for r in received]
    keys = [c["customer_key"] for r in received for c in r.body["changes"]]
    assert keys == sorted(expected)
    assert {c["kind"] for r in received for c in r.body["changes"]} == {"entered"}
    assert set(kit.sink_records(state_file, "hook")) == expected


def test_a_lease_is_taken_over_only_from_a_process_of_this_machine_that_is_gone(
        tmp_path: Path, procs: kit.Processes) -> None:
    """A restart right after a crash must not wait out the 15-minute lease, but a live holder, or
    one on another machine (whose process ids mean nothing here), keeps the store."""
    db = Database(tmp_path / "state")
    machine = runs.lease_holder_id().rsplit(":", 1)[0]
    live = procs.start([sys.executable, "-c", "import time; time.sleep(120)"], name="live")
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])  # exits; not reaped until the end
    reaped = subprocess.Popen([sys.executable, "-c", "pass"])
    reaped.wait()
    try:
        os.waitid(os.P_PID, zombie.pid, os.WEXITED | os.WNOWAIT)  # wait for its exit, leave it a zombie
        far = runs.now_utc() + 600
        holders = {
            f"{machine}:{live.pid}:1": False,  # running: the store is busy
            f"{machine}:{zombie.pid}:1": True,  # dead, though its parent has not reaped it yet
            f"{machine}:{reaped.pid}:1": True,  # dead and gone
            f"another-host:{reaped.pid}:1": False,  # not ours to judge: wait for expiry
            f"{machine}:{os.getpid()}:1": False,  # another thread of this very process
        }
        for holder, taken in holders.items():
            with db.transaction() as conn:
                conn.execute("DELETE FROM leases")
                conn.execute("INSERT INTO leases (store, holder, expires_utc) VALUES (?, ?, ?)", (STORE, holder, far))
            assert runs.acquire_lease(db, STORE, f"{machine}:{os.getpid()}:2", 900) is taken, holder
            lease = runs.lease_of(db, STORE)
            assert lease is not None and lease[0] == (f"{machine}:{os.getpid()}:2" if taken else holder)
    finally:
        zombie.wait()
        db.close()
