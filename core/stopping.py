"""The process's stop request, and waits that end as soon as it is made.

Ctrl-C and SIGTERM set `STOP` (sync/run_cmds.py). Every wait in rfmsync (retry back-off, a
Retry-After of 60 s, a platform's throttle, bulk and batch polls) sleeps with `pause`, which wakes at
once on the request and raises `Interrupted`; the run loop records the run as interrupted and the
next run resumes. systemd's TimeoutStopSec (120 s in the README's unit) is then never reached.
"""

from __future__ import annotations

import threading
import time

STOP = threading.Event()


class Interrupted(Exception):
    """A stop was requested while waiting."""


# How often a wait looks at the stop request. Short sleeps, not STOP.wait(seconds): a timed
# Event.wait never returns under libfaketime (CI runs the suite with the clock a year ahead), and
# 0.1 s is far inside the 5 s a stop may take.
_TICK = 0.1


def pause(seconds: float, stop: threading.Event = STOP) -> None:
    """Sleeps `seconds`, raising Interrupted as soon as `stop` (the process's request) is set."""
    deadline = time.monotonic() + max(0.0, seconds)
    while True:
        if stop.is_set():
            raise Interrupted("stopped on request")
        left = deadline - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(_TICK, left))
