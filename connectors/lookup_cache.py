"""A source's lookups of things its orders only name by id (a point of sale's customers, products'
categories), kept in the state between runs for a number of days, so a run asks the platform only
for ids it has not seen lately."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from rfmsync.connectors.base import SinkMemory
from rfmsync.core.errors import AuthError, PermanentError

log = logging.getLogger("rfmsync.connectors")


class LookupCache:
    """id -> a JSON-able value; in memory for the process, in the state for `days`.

    With `optional`, a lookup the platform refuses as such (no permission for it, an endpoint the
    shop's version lacks) is warned about once and skipped for the process: the orders still land,
    without what the lookup adds, and the next process asks again.
    """

    def __init__(self, prefix: str, days: float, clock: Callable[[], float], *, optional: str | None = None) -> None:
        self.prefix, self.days, self.clock = prefix, days, clock
        self.optional = optional  # what is missing without it, for the warning
        self.refused = False
        self.memory: SinkMemory | None = None
        self.held: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.held.get(key, default)

    def load(self, keys: Iterable[str], fetch: Callable[[Sequence[str]], Mapping[str, Any]], chunk: int) -> None:
        """Makes every key known: from the process, the state if fresh, else `fetch` (chunk ids a call).
        An id the platform does not answer for is remembered as None for the process only."""
        now = self.clock()
        wanted: list[str] = []
        for key in dict.fromkeys(keys):
            if key in self.held:
                continue
            stored = self.memory.get(f"{self.prefix}:{key}") if self.memory is not None else None
            held = json.loads(stored) if stored else None
            # [value, when fetched]; anything else was written in another form: asked again.
            if isinstance(held, list) and len(held) == 2 and now - float(held[1]) < self.days * 86400:
                self.held[key] = held[0]
                continue
            wanted.append(key)
        for start in range(0, len(wanted), chunk):
            if self.refused:
                return
            asked = wanted[start:start + chunk]
            try:
                found = fetch(asked)
            except (PermanentError, AuthError) as exc:
                if self.optional is None:
                    raise
                self.refused = True
                log.warning("%s; %s this run", exc, self.optional)
                return
            for key in asked:
                self.held[key] = found.get(key)
                if key in found and self.memory is not None:
                    self.memory.put(f"{self.prefix}:{key}", json.dumps([found[key], now]))
