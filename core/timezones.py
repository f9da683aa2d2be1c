"""Local calendar days for UTC timestamps, vectorised.

zoneinfo answers one datetime at a time; converting 10M orders that way costs seconds. A zone's UTC
offset only changes at a handful of transitions, so we find those in the data's time span (daily
probes, then a binary search to the second) and map every timestamp with one `searchsorted`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

SECONDS_PER_DAY = 86_400


# datetime stops at years 1 and 9999; a placeholder date like 9999-12-31 (or a typo beyond it) must
# not crash the probe, and no zone changes its offset that far out anyway.
_FIRST = int(datetime(1, 1, 2, tzinfo=UTC).timestamp())
_LAST = int(datetime(9999, 12, 30, tzinfo=UTC).timestamp())


def _offset_at(tz: ZoneInfo, utc_seconds: int) -> int:
    moment = datetime.fromtimestamp(min(max(utc_seconds, _FIRST), _LAST), UTC).astimezone(tz)
    offset = moment.utcoffset()
    return 0 if offset is None else int(offset.total_seconds())


def offset_table(tz: ZoneInfo, start: int, end: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """(transition starts, offsets): offsets[i] applies from starts[i] until starts[i + 1].

    starts[0] is `start`; covers [start, end] in UTC seconds.
    """
    starts = [start]
    offsets = [_offset_at(tz, start)]
    probe = start
    while probe < end:
        nxt = min(probe + SECONDS_PER_DAY, end)
        after = _offset_at(tz, nxt)
        if after != offsets[-1]:
            lo, hi = probe, nxt  # offset(lo) == offsets[-1], offset(hi) == after
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if _offset_at(tz, mid) == offsets[-1]:
                    lo = mid
                else:
                    hi = mid
            starts.append(hi)
            offsets.append(after)
        probe = nxt
    return np.asarray(starts, dtype=np.int64), np.asarray(offsets, dtype=np.int64)


# The span whose offsets are looked up day by day: one bogus date (0001-01-01, 9999-12-31) must not
# make the probe walk millennia. Outside it a timestamp takes the offset at the nearer edge.
PROBE_FIRST = int(datetime(1970, 1, 1, tzinfo=UTC).timestamp())
PROBE_LAST = int(datetime(2100, 1, 1, tzinfo=UTC).timestamp())


def utc_offsets(utc_seconds: NDArray[np.int64], tz: ZoneInfo) -> NDArray[np.int64]:
    """The zone's UTC offset in seconds at each timestamp."""
    if len(utc_seconds) == 0:
        return np.zeros(0, dtype=np.int64)
    lo = min(max(int(utc_seconds.min()), PROBE_FIRST), PROBE_LAST)
    hi = max(min(int(utc_seconds.max()), PROBE_LAST), lo)
    starts, offsets = offset_table(tz, lo, hi)
    if len(offsets) == 1:
        return np.full(len(utc_seconds), offsets[0], dtype=np.int64)
    index = np.searchsorted(starts, utc_seconds, side="right") - 1
    return offsets[np.clip(index, 0, len(offsets) - 1)]


def local_days(utc_seconds: NDArray[np.int64], tz: ZoneInfo) -> NDArray[np.int64]:
    """Days since 1970-01-01 of each timestamp's calendar date in `tz`."""
    return (utc_seconds + utc_offsets(utc_seconds, tz)) // SECONDS_PER_DAY


def naive_local_to_utc(local_seconds: NDArray[np.int64], tz: ZoneInfo) -> NDArray[np.int64]:
    """UTC seconds for wall-clock times in `tz` (seconds since 1970-01-01 00:00 local).

    As zoneinfo reads a wall-clock time with fold=0: an ambiguous time takes its first occurrence and
    a time in a spring-forward gap is read with the offset before the change, so it moves forward.
    Both keep the wall-clock date, which is what recency counts, except in the few zones whose
    clocks jump forward across midnight.
    """
    if len(local_seconds) == 0:
        return np.zeros(0, dtype=np.int64)
    # UTC offsets stay within a day, so every instant lies in this span (bounded as in utc_offsets).
    lo = min(max(int(local_seconds.min()) - SECONDS_PER_DAY, PROBE_FIRST), PROBE_LAST)
    hi = max(min(int(local_seconds.max()) + SECONDS_PER_DAY, PROBE_LAST), lo)
    starts, offsets = offset_table(tz, lo, hi)
    # The change at UTC starts[i] takes effect, for fold=0, at wall time starts[i] plus the larger of
    # the offsets before and after it (zoneinfo's rule): earlier wall times keep the old offset.
    wall_starts = starts + np.maximum(offsets, np.roll(offsets, 1))
    wall_starts[0] = np.iinfo(np.int64).min
    result: NDArray[np.int64] = local_seconds - offsets[np.searchsorted(wall_starts, local_seconds, side="right") - 1]
    return result


def day_number(year: int, month: int, day: int) -> int:
    return (datetime(year, month, day, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)).days
