"""Cron schedules with cron's meaning, for APScheduler 3.x.

Used by config validation, `rfmsync status` (next run) and the daemon, so all three agree.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger

# Standard cron numbers weekdays from Sunday (0, and 7 again); APScheduler 3.x from Monday, and its
# from_crontab passes the field through unchanged (its issue 286), so "1" would run on Tuesdays.
# Weekdays are therefore handed to APScheduler by name.
_CRON_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _weekday_number(text: str, *, end: bool = False) -> int:
    value = text.strip().lower()
    if value.isdigit() and int(value) <= 7:
        return int(value)
    if value in _CRON_WEEKDAYS:
        number = _CRON_WEEKDAYS.index(value)
        return 7 if end and number == 0 else number  # "fri-sun"
    raise ValueError(f"not a weekday: {text!r}")


def crontab_weekdays(field: str) -> str:
    """A crontab day-of-week field (numbers with Sunday 0 or 7, names, ranges, lists, steps) as
    APScheduler day names, e.g. "1-5" -> "mon,tue,wed,thu,fri"."""
    if field == "*":
        return field
    days: set[int] = set()
    for item in field.split(","):
        span, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"bad step in {item!r}")
        if span == "*":
            first, last = 0, 6
        elif "-" in span:
            low, high = span.split("-", 1)
            first, last = _weekday_number(low), _weekday_number(high, end=True)
        else:
            first = _weekday_number(span)
            last = 6 if step_text else first
        if first > last:
            raise ValueError(f"range {span!r} runs backwards")
        days.update(n % 7 for n in range(first, last + 1, step))
    return ",".join(_CRON_WEEKDAYS[d] for d in sorted(days))


def cron_trigger(expression: str, tz: ZoneInfo) -> Any:
    """The trigger for a crontab line (minute hour day month weekday) with cron's meaning, in `tz`.

    As in cron, a line that restricts both the day of the month and the weekday runs on days that
    match either ("0 4 1 * 1": the 1st and every Monday); APScheduler alone would need both.
    """
    minute, hour, day, month, weekday = expression.split()
    weekdays = crontab_weekdays(weekday)

    def cron(day_field: str, weekday_field: str) -> CronTrigger:
        return CronTrigger(minute=minute, hour=hour, day=day_field, month=month, day_of_week=weekday_field,
                           timezone=tz)

    if day.startswith("*") or weekday.startswith("*"):
        return cron(day, weekdays)
    return OrTrigger([cron(day, "*"), cron("*", weekdays)])


def next_run(expression: str, tz_name: str, now: datetime | None = None) -> datetime | None:
    tz = ZoneInfo(tz_name)
    fire: datetime | None = cron_trigger(expression, tz).get_next_fire_time(None, now or datetime.now(tz))
    return fire
