"""Client-side rate limits: at most N requests in any window of S seconds, for several windows at
once (Klaviyo's burst and steady limits, HubSpot's 10-second window, Google's per-minute quota).
Waiting before a request costs less than the 429 and the Retry-After it would bring.

Time is the clock plus the limiter's own waits, so an injected sleep in tests (one that does not
move the clock) paces the same way as a real one.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Sequence


class RateWindows:
    def __init__(self, windows: Sequence[tuple[int, float]], sleep: Callable[[float], None],
                 clock: Callable[[], float] = time.monotonic) -> None:
        """`windows`: (requests, seconds) pairs, e.g. [(10, 1.0), (150, 60.0)]."""
        self.windows = [(limit, seconds) for limit, seconds in windows if limit > 0]
        self.sleep, self.clock = sleep, clock
        self._sent: collections.deque[float] = collections.deque()
        self._waited = 0.0
        self._longest = max((seconds for _, seconds in self.windows), default=0.0)
        self.waited_seconds = 0.0  # what the limits cost so far (for benchmarks)

    def _now(self) -> float:
        return self.clock() + self._waited

    def wait(self) -> None:
        now = self._now()
        while self._sent and self._sent[0] <= now - self._longest:
            self._sent.popleft()
        pause_for = 0.0
        for limit, seconds in self.windows:
            inside = [t for t in self._sent if t > now - seconds]
            if len(inside) >= limit:
                # A little over the window: the platform counts when requests arrive, not when sent,
                # and one that took long to arrive shortens the gap to the next (seen on a busy CI host).
                pause_for = max(pause_for, inside[-limit] + seconds * 1.05 + 0.05 - now)
        if pause_for > 0:
            before = self.clock()
            self.sleep(pause_for)
            moved = self.clock() - before
            if moved <= 0:
                # A sleep that does not move the clock (a test's): the window passes in our own time.
                self._waited += pause_for
            elif moved < pause_for:
                self.sleep(pause_for - moved)  # woke early: a request sent now would be over the limit
            self.waited_seconds += pause_for
            now = self._now()
        self._sent.append(now)
