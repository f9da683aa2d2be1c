"""Config of the csv source (order files) and the csv sink (audience files)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from rfmsync.connectors.base import FieldsSinkConfig, SourceConfig
from rfmsync.core.models import check_channel


class CsvSourceConfig(SourceConfig):
    type: Literal["csv"]
    # Relative paths are relative to the config file.
    path: Path
    # FIELD = COLUMN, as `rfmsync score --map`; amount may be "Qty*Price". Default: detected.
    map: dict[str, str] | None = None
    date_format: str | None = None
    # The file's dialect, as `rfmsync score --delimiter/--encoding/--decimal`; default: detected.
    delimiter: Literal[",", ";", "tab", "|", "whitespace"] | None = None
    encoding: str | None = None
    decimal: Literal[".", ","] | None = None
    # The channel every order of the file was sold through (an export of an old till: "pos"), for
    # rfm.channels; the file's name is the detail. Default: not recorded.
    channel: str | None = None
    _channel_class = field_validator("channel")(check_channel)


class CsvSinkConfig(FieldsSinkConfig):
    type: Literal["csv"]
    # Relative paths are relative to the config file.
    dir: Path
    batch_size: int = Field(default=50_000, ge=1)

    def exclusive_paths(self) -> dict[str, Path]:
        return {"dir": self.dir}
