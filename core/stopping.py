"""The process's stop request, and waits that end as soon as it is made.

Ctrl-C and SIGTERM set `STOP` (sync/run_cmds.py). Every wait in rfmsync (retry back-off, a
Retry-After of 60 s, Shopify's throttle, bulk and batch polls) sleeps with `pause`, which wakes at
once on the request and raises `Interrupted`; the run loop records the run as interrupted and the
next run resumes. systemd's TimeoutStopSec (120 s in the README's unit) is then never reached.
"""

from __future__ import annotations

import threading

STOP = threading.Event()


class Interrupted(Exception):
    """A stop was requested while waiting."""


def pause(seconds: float) -> None:
    if STOP.wait(max(0.0, seconds)):
        raise Interrupted("stopped on request")
