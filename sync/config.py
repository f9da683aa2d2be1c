"""The TOML config: one file, many stores. Errors name the exact path (`stores.acme.rfm.levels`).

This holds what the engine needs per store (time zone, RFM settings, custom segments); sources,
sinks, schedules and state come with the sync pipeline.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from rfmsync.core.custom import CustomScheme, check_scheme, scheme_from_toml
from rfmsync.core.errors import ConfigError, SchemeError
from rfmsync.core.rfm import RfmSettings
from rfmsync.core.schemes import BUILTIN_SCHEMES
from rfmsync.core.scoring import Band, BandSet, Metric, Weights


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BandConfig(_Strict):
    score: int = Field(ge=1, le=5)
    min: float = Field(ge=0)
    # Leave out on the last band: it is open-ended.
    max: float | None = None


class WeightsConfig(_Strict):
    r: float = Field(default=1 / 3, ge=0)
    f: float = Field(default=1 / 3, ge=0)
    m: float = Field(default=1 / 3, ge=0)


class ComparisonConfig(_Strict):
    r: float | None = None
    f: float | None = None
    m: float | None = None


class RangesConfig(_Strict):
    r: list[BandConfig] | None = None
    f: list[BandConfig] | None = None
    m: list[BandConfig] | None = None


class RfmConfig(_Strict):
    scheme: str = "classic"
    levels: Literal[3, 4, 5] | None = None
    method: Literal["quantile", "ranges"] | None = None
    window_days: int | None = Field(default=None, ge=1)
    half_life_days: float | None = Field(default=None, gt=0)
    weights: WeightsConfig = WeightsConfig()
    comparison: ComparisonConfig = ComparisonConfig()
    ranges: RangesConfig = RangesConfig()

    @field_validator("scheme")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if value not in BUILTIN_SCHEMES and value != "custom":
            raise ValueError(f"expected one of {', '.join(sorted(BUILTIN_SCHEMES))} or 'custom' "
                             "(with a segments table)")
        return value


class StoreConfig(_Strict):
    timezone: str = "UTC"
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    rfm: RfmConfig = RfmConfig()
    # Validated by rfmsync.core.custom.scheme_from_toml, which names the rule paths itself.
    segments: dict[str, Any] | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; expected an IANA name like Europe/Berlin") from None
        return value

    @model_validator(mode="after")
    def _segments_match_scheme(self) -> StoreConfig:
        if self.segments is not None and "scheme" in self.rfm.model_fields_set and self.rfm.scheme != "custom":
            raise ValueError(f"rfm.scheme is {self.rfm.scheme!r} but a segments table is given; "
                             "set scheme = \"custom\" or remove the segments table")
        if self.segments is None and self.rfm.scheme == "custom":
            raise ValueError("rfm.scheme is 'custom' but there is no segments table")
        return self


class Config(_Strict):
    stores: dict[str, StoreConfig] = Field(min_length=1)


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def parse_config(data: dict[str, Any], origin: str = "config") -> Config:
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = _path(tuple(first["loc"]))
        message = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
        if first["type"] == "missing":
            message = "required but missing"
        more = len(exc.errors()) - 1
        raise ConfigError(f"{origin}: {path}" if path else origin,
                          message + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else "")) from None
    for name, store in config.stores.items():
        rfm_settings(store, f"{origin}: stores.{name}")  # bands, weights, scheme/levels combinations
    return config


def load_config(path: Path) -> Config:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read ({exc.strerror or exc})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), f"not valid TOML ({exc})") from None
    return parse_config(data, str(path))


def custom_scheme(store: StoreConfig, path: str) -> CustomScheme | None:
    return None if store.segments is None else scheme_from_toml(store.segments, f"{path}.segments")


def rfm_settings(store: StoreConfig, path: str) -> RfmSettings:
    """Engine settings for a store; raises ConfigError naming the path when they do not fit together."""
    rfm = store.rfm
    ranges: dict[Metric, BandSet] = {}
    for metric in ("r", "f", "m"):
        bands = getattr(rfm.ranges, metric)
        if bands is not None:
            ranges[metric] = BandSet(metric, tuple(Band(b.score, b.min, b.max) for b in bands))
    comparison: dict[Metric, float] = {
        metric: value for metric in ("r", "f", "m") if (value := getattr(rfm.comparison, metric)) is not None
    }
    settings = RfmSettings(
        scheme=custom_scheme(store, path) or rfm.scheme,
        levels=rfm.levels,
        method=rfm.method,
        ranges=ranges,
        weights=Weights(rfm.weights.r, rfm.weights.f, rfm.weights.m),
        comparison=comparison,
    )
    try:
        _, levels, method = settings.resolved()
        if method == "ranges":
            settings.bands_for(levels)
        for metric, band_set in ranges.items():  # unused under quantiles, but must not rot
            band_set.validate(levels, f"rfm.ranges.{metric}")
    except SchemeError as exc:
        raise ConfigError(f"{path}.{exc.path}", exc.message) from None
    return settings


def scheme_report(store: StoreConfig, path: str) -> list[str]:
    """Gaps and dead rules of a store's custom scheme, for check-config and warnings."""
    scheme = custom_scheme(store, path)
    if scheme is None:
        return []
    _, levels, _ = rfm_settings(store, path).resolved()
    return check_scheme(scheme, levels).lines()
