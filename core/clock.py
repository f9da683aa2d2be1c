"""The one source of "now" for commands: the real clock, or an instant pinned with RFMSYNC_NOW.

Pinning exists for tests (no test may depend on today's date) and for replaying a day by hand
(`RFMSYNC_NOW=2026-11-01T04:00:00Z rfmsync report ...`). It is read at every call, so a test can
set it in the environment of a child process or with monkeypatch.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

from rfmsync.core.errors import ConfigError

ENV_NOW = "RFMSYNC_NOW"


def utc_now() -> datetime:
    text = os.environ.get(ENV_NOW, "").strip()
    if not text:
        return datetime.now(UTC)
    try:
        pinned = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(ENV_NOW, "expected an ISO 8601 instant such as 2026-11-01T04:00:00Z") from None
    return pinned.replace(tzinfo=UTC) if pinned.tzinfo is None else pinned.astimezone(UTC)
