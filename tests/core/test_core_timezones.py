"""core.timezones against zoneinfo, across DST changes (including Lord Howe's 30-minute shift)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from numpy.typing import NDArray
from rfmsync.core.timezones import day_number, local_days, naive_local_to_utc, offset_table, utc_offsets

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")
EPOCH = date(1970, 1, 1)

# 2024 transitions in UTC: Berlin 03-31T01:00Z and 10-27T01:00Z; New York 03-10T07:00Z and 11-03T06:00Z;
# Lord Howe 04-06T15:00Z (+11 -> +10:30) and 10-05T15:30Z (+10:30 -> +11).
TRANSITIONS = {
    BERLIN: ["2024-03-31T01:00:00", "2024-10-27T01:00:00"],
    NEW_YORK: ["2024-03-10T07:00:00", "2024-11-03T06:00:00"],
    LORD_HOWE: ["2024-04-06T15:00:00", "2024-10-05T15:30:00"],
}


def ts(iso: str) -> int:
    return int(datetime.fromisoformat(iso).replace(tzinfo=UTC).timestamp())


def around_transitions(tz: ZoneInfo, step: int = 900) -> NDArray[np.int64]:
    """Every `step` seconds over two days either side of each 2024 transition, plus their edges."""
    points: list[int] = []
    for iso in TRANSITIONS[tz]:
        t = ts(iso)
        points.extend(range(t - 2 * 86_400, t + 2 * 86_400, step))
        points.extend([t - 1, t, t + 1])
    return np.asarray(sorted(points), dtype=np.int64)


@pytest.mark.parametrize("tz", [BERLIN, NEW_YORK, LORD_HOWE], ids=str)
def test_local_days_match_zoneinfo_around_transitions(tz: ZoneInfo) -> None:
    utc = around_transitions(tz)
    expected = [(datetime.fromtimestamp(int(t), UTC).astimezone(tz).date() - EPOCH).days for t in utc]
    assert local_days(utc, tz).tolist() == expected


@pytest.mark.parametrize("tz", [BERLIN, NEW_YORK, LORD_HOWE], ids=str)
def test_local_days_match_zoneinfo_over_two_years(tz: ZoneInfo) -> None:
    # Every 7 hours and 13 minutes from 2023-01-01 to 2025-01-01: all hours of the day, 4 transitions.
    utc = np.arange(ts("2023-01-01T00:00:00"), ts("2025-01-01T00:00:00"), 7 * 3600 + 13 * 60, dtype=np.int64)
    expected = [(datetime.fromtimestamp(int(t), UTC).astimezone(tz).date() - EPOCH).days for t in utc]
    assert local_days(utc, tz).tolist() == expected


def test_local_days_by_hand() -> None:
    assert day_number(1970, 1, 1) == 0
    assert day_number(2024, 1, 1) == 19_723  # 54 * 365 + 13 leap days
    assert day_number(2024, 3, 10) == 19_723 + 31 + 29 + 9
    cases = [
        # Berlin: +1 until 2024-03-31T01:00Z
        (BERLIN, "2024-03-30T22:59:59", (2024, 3, 30)),
        (BERLIN, "2024-03-30T23:00:00", (2024, 3, 31)),
        (BERLIN, "2024-10-26T21:59:59", (2024, 10, 26)),  # +2: 23:59:59
        (BERLIN, "2024-10-26T22:00:00", (2024, 10, 27)),
        (BERLIN, "2024-10-27T22:59:59", (2024, 10, 27)),  # +1 since 01:00Z: 23:59:59
        (BERLIN, "2024-10-27T23:00:00", (2024, 10, 28)),
        (BERLIN, "2024-03-10T23:30:00", (2024, 3, 11)),
        # New York: -5 until 2024-03-10T07:00Z, then -4
        (NEW_YORK, "2024-03-10T04:59:59", (2024, 3, 9)),
        (NEW_YORK, "2024-03-10T05:00:00", (2024, 3, 10)),
        (NEW_YORK, "2024-03-10T23:30:00", (2024, 3, 10)),
        (NEW_YORK, "2024-03-11T03:59:59", (2024, 3, 10)),
        (NEW_YORK, "2024-03-11T04:00:00", (2024, 3, 11)),
        # Lord Howe: +11 until 2024-04-06T15:00Z, +10:30 until 2024-10-05T15:30Z, then +11
        (LORD_HOWE, "2024-04-06T13:15:00", (2024, 4, 7)),  # 00:15 (+11)
        (LORD_HOWE, "2024-04-07T13:15:00", (2024, 4, 7)),  # 23:45 (+10:30)
        (LORD_HOWE, "2024-04-07T13:30:00", (2024, 4, 8)),  # 00:00 (+10:30)
        (LORD_HOWE, "2024-10-05T13:15:00", (2024, 10, 5)),  # 23:45 (+10:30)
        (LORD_HOWE, "2024-10-06T12:59:59", (2024, 10, 6)),  # 23:59:59 (+11)
        (LORD_HOWE, "2024-10-06T13:15:00", (2024, 10, 7)),  # 00:15 (+11)
    ]
    for tz, iso, ymd in cases:
        assert local_days(np.asarray([ts(iso)], dtype=np.int64), tz).tolist() == [day_number(*ymd)], (tz, iso)
    # All of a zone's cases in one array (one offset table for the whole span).
    for zone in (BERLIN, NEW_YORK, LORD_HOWE):
        mine = [(iso, ymd) for tz, iso, ymd in cases if tz is zone]
        got = local_days(np.asarray([ts(iso) for iso, _ in mine], dtype=np.int64), zone).tolist()
        assert got == [day_number(*ymd) for _, ymd in mine]


def test_offset_table_finds_transitions_to_the_second() -> None:
    start, end = ts("2024-01-01T00:00:00"), ts("2024-12-31T00:00:00")
    starts, offsets = offset_table(BERLIN, start, end)
    assert starts.tolist() == [start, ts("2024-03-31T01:00:00"), ts("2024-10-27T01:00:00")]
    assert offsets.tolist() == [3600, 7200, 3600]
    starts, offsets = offset_table(LORD_HOWE, start, end)
    assert starts.tolist() == [start, ts("2024-04-06T15:00:00"), ts("2024-10-05T15:30:00")]
    assert offsets.tolist() == [39_600, 37_800, 39_600]  # +11:00, +10:30, +11:00
    starts, offsets = offset_table(NEW_YORK, start, start)
    assert starts.tolist() == [start] and offsets.tolist() == [-18_000]


def test_utc_offsets() -> None:
    t = np.asarray([ts("2024-04-06T14:59:59"), ts("2024-04-06T15:00:00"), ts("2024-10-05T15:30:00")], np.int64)
    assert utc_offsets(t, LORD_HOWE).tolist() == [39_600, 37_800, 39_600]
    assert utc_offsets(np.zeros(0, np.int64), LORD_HOWE).tolist() == []
    assert local_days(np.zeros(0, np.int64), BERLIN).tolist() == []
    assert utc_offsets(t, ZoneInfo("UTC")).tolist() == [0, 0, 0]


# --- naive_local_to_utc


def wall(iso: str) -> int:
    """Seconds since 1970-01-01 00:00 of a wall-clock time."""
    return ts(iso)


@pytest.mark.parametrize(
    ("tz", "local", "utc"),
    [
        # Ambiguous (clocks go back): the first occurrence, as zoneinfo's fold=0.
        (BERLIN, "2024-10-27T02:30:00", "2024-10-27T00:30:00"),  # +2, not +1 (01:30Z)
        (NEW_YORK, "2024-11-03T01:30:00", "2024-11-03T05:30:00"),  # -4, not -5 (06:30Z)
        (LORD_HOWE, "2024-04-07T01:45:00", "2024-04-06T14:45:00"),  # +11, not +10:30 (15:15Z)
        # Spring-forward gap: read with the offset before the change, so it moves forward.
        (BERLIN, "2024-03-31T02:30:00", "2024-03-31T01:30:00"),  # = 03:30 CEST
        (NEW_YORK, "2024-03-10T02:30:00", "2024-03-10T07:30:00"),  # = 03:30 EDT, not 01:30 EST
        (LORD_HOWE, "2024-10-06T02:15:00", "2024-10-05T15:45:00"),  # = 02:45 +11
        # Plain times either side.
        (BERLIN, "2024-03-31T01:59:59", "2024-03-31T00:59:59"),
        (BERLIN, "2024-03-31T03:00:00", "2024-03-31T01:00:00"),
        (BERLIN, "2024-10-27T03:00:00", "2024-10-27T02:00:00"),
        (NEW_YORK, "2024-11-03T02:00:00", "2024-11-03T07:00:00"),
        (LORD_HOWE, "2024-04-07T02:00:00", "2024-04-06T15:30:00"),
    ],
)
def test_naive_local_to_utc_by_hand(tz: ZoneInfo, local: str, utc: str) -> None:
    assert naive_local_to_utc(np.asarray([wall(local)], dtype=np.int64), tz).tolist() == [ts(utc)]


@pytest.mark.parametrize("tz", [BERLIN, NEW_YORK, LORD_HOWE], ids=str)
def test_naive_local_to_utc_matches_zoneinfo_fold0(tz: ZoneInfo) -> None:
    local = around_transitions(tz, step=300)  # wall-clock times near each change (gaps, repeats)
    expected = [
        int((datetime(1970, 1, 1) + timedelta(seconds=int(s))).replace(tzinfo=tz).timestamp()) for s in local
    ]
    assert naive_local_to_utc(local, tz).tolist() == expected


@pytest.mark.parametrize("tz", [BERLIN, NEW_YORK, LORD_HOWE], ids=str)
def test_round_trips(tz: ZoneInfo) -> None:
    utc = around_transitions(tz, step=300)
    offsets = np.asarray([datetime.fromtimestamp(int(t), UTC).astimezone(tz).utcoffset().total_seconds()  # type: ignore[union-attr]
                          for t in utc], dtype=np.int64)
    local = utc + offsets
    back = naive_local_to_utc(local, tz)
    # Wall times shown twice (the repeated hour) come back as their first occurrence; all others exactly.
    # zoneinfo marks the second occurrence with fold=1 when converting from UTC.
    repeated = np.asarray([datetime.fromtimestamp(int(t), UTC).astimezone(tz).fold == 1 for t in utc])
    assert repeated.sum() > 0  # the sample does contain second occurrences
    np.testing.assert_array_equal(back[~repeated], utc[~repeated])
    # Second occurrences map to the first: one DST shift earlier (1 h, or 30 min on Lord Howe).
    shift = 1800 if tz is LORD_HOWE else 3600
    np.testing.assert_array_equal(back[repeated], utc[repeated] - shift)
    # Whatever the fold, the local date survives the round trip.
    np.testing.assert_array_equal(local_days(back, tz), local // 86_400)


def test_naive_local_to_utc_empty_and_fixed_zone() -> None:
    assert naive_local_to_utc(np.zeros(0, np.int64), BERLIN).tolist() == []
    tokyo = np.asarray([wall("2024-01-01T08:00:00")], np.int64)
    assert naive_local_to_utc(tokyo, ZoneInfo("Asia/Tokyo")).tolist() == [ts("2023-12-31T23:00:00")]


def test_dates_at_the_ends_of_the_calendar_do_not_crash() -> None:
    from datetime import UTC, datetime

    import numpy as np
    from rfmsync.core.timezones import local_days, naive_local_to_utc

    late = int(datetime(9999, 12, 31, 23, 0, tzinfo=UTC).timestamp())
    early = int(datetime(1, 1, 1, 1, 0, tzinfo=UTC).timestamp())
    stamps = np.array([early, 0, late], dtype=np.int64)
    days = local_days(stamps, ZoneInfo("Europe/Berlin"))
    # Outside 1970-2100 a timestamp takes the offset at the nearer edge: Berlin is +1 h on both
    # 1970-01-01 and 2100-01-01, so 9999-12-31 23:00 UTC is already the next day locally. And it is
    # fast: the probe no longer walks the millennia in between.
    assert days[1] == 0 and days[2] == (late + 3600) // 86_400
    assert naive_local_to_utc(stamps, ZoneInfo("America/New_York")).shape == (3,)
