"""Options every order-file reader takes."""

from __future__ import annotations

from dataclasses import dataclass, field
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class ReadOptions:
    tz: ZoneInfo
    # The store currency; None takes the file's most common currency.
    currency: str | None = None
    # Units of the store currency per unit of another currency: {"USD": 0.92}.
    rates: dict[str, float] = field(default_factory=dict)
    # A strptime format for files whose dates are not ISO 8601 ("%d/%m/%Y %H:%M").
    date_format: str | None = None
    # The file's dialect; None detects each (see orderfiles/decode.py and textparse.py).
    delimiter: str | None = None
    encoding: str | None = None
    decimal: str | None = None
