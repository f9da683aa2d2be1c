"""The TOML config: one file, many stores. Errors name the exact path (`stores.acme.rfm.levels`).

Secrets are written as `${ENV_VAR}` and resolved at load; a missing variable is an error naming
the path and the variable, never a value. The `sources` and `sinks` tables are validated by the
config models of the registered connectors (connectors/discovery.py): the models below are typed
against the base classes, and `parse_config` validates with subclasses whose lists are the
discriminated unions of what is installed.
"""

from __future__ import annotations

import difflib
import functools
import os
import re
import tomllib
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)
from rfmsync.connectors.base import SinkConfig, SourceConfig
from rfmsync.connectors.discovery import Registry, default_registry
from rfmsync.connectors.identifiers import check_phone_region
from rfmsync.core.custom import CustomScheme, check_scheme, scheme_from_toml
from rfmsync.core.errors import ConfigError, SchemeError
from rfmsync.core.models import MAX_RATE
from rfmsync.core.rfm import RfmSettings
from rfmsync.core.schemes import BUILTIN_SCHEMES
from rfmsync.core.scoring import Band, BandSet, Metric, Weights
from rfmsync.sync.schedule import cron_trigger


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
    half_life_days: float | None = Field(default=None, gt=0, lt=1e9, allow_inf_nan=False)
    weights: WeightsConfig = WeightsConfig()
    comparison: ComparisonConfig = ComparisonConfig()
    ranges: RangesConfig = RangesConfig()
    # Score on a subset of orders: their channel class or source detail ("pos", "web", a point of
    # sale's location id) and/or the product categories of their lines (an order counts with the amount
    # of its lines in these categories). Empty: every order.
    channels: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)

    @field_validator("channels", "categories")
    @classmethod
    def _no_blank(cls, value: list[str]) -> list[str]:
        if any(not item.strip() for item in value):
            raise ValueError("expected names, not empty strings")
        return value

    @field_validator("scheme")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        if value not in BUILTIN_SCHEMES and value != "custom":
            raise ValueError(f"expected one of {', '.join(sorted(BUILTIN_SCHEMES))} or 'custom' "
                             "(with a segments table)")
        return value


NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class StoreConfig(_Strict):
    timezone: str = "UTC"
    # Cron (minute hour day month weekday) in the store's time zone, for `rfmsync daemon`.
    schedule: str = "0 4 * * *"
    # Each pull re-reads this much before the cursor: late writes, offline POS orders.
    lookback_minutes: int = Field(default=60, ge=0)
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    # Units of the store currency per unit of another currency, e.g. { USD = 0.92 }.
    rates: dict[str, float] = Field(default_factory=dict)
    # Score guest orders (no customer id) as one customer per normalized email.
    merge_guests_by_email: bool = False
    # Score as of this fixed date instead of each run's date: for the demo stores (the same numbers
    # on any day) and for replaying history. A real store leaves it out.
    as_of: date | None = None
    # Negative orders (credit notes, cancellation invoices) reduce monetary in the window
    # (docs/scoring.md); "ignore" leaves them out entirely.
    returns: Literal["subtract", "ignore"] = "subtract"
    # Ad audiences get only customers whose marketing consent the source recorded; "not_required"
    # states that the shop has another legal basis and sends every customer (consent as recorded).
    ad_consent: Literal["required", "not_required"] = "required"
    # With several sources, customers are matched by email, then phone: numbers written without a
    # country code are read as this region's (e.g. "DE"); without it only "+49..." numbers match.
    phone_region: str | None = None
    sources: list[SourceConfig] = Field(default_factory=list)
    sinks: list[SinkConfig] = Field(default_factory=list)
    rfm: RfmConfig = RfmConfig()
    # Validated by rfmsync.core.custom.scheme_from_toml, which names the rule paths itself.
    segments: dict[str, Any] | None = None

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        try:
            cron_trigger(value, ZoneInfo("UTC"))
        except ValueError as exc:
            raise ValueError(f"not a cron expression (minute hour day month weekday): {exc}") from None
        return value

    _region = field_validator("phone_region")(check_phone_region)

    @field_validator("rates")
    @classmethod
    def _rates(cls, value: dict[str, float]) -> dict[str, float]:
        for code, rate in value.items():
            if len(code) != 3 or not code.isalpha() or not 0 < rate <= MAX_RATE:
                raise ValueError(f"expected CODE = rate above 0 and at most {MAX_RATE:,.0f}, e.g. USD = 0.92; "
                                 f"got {code} = {rate}")
        return {code.upper(): rate for code, rate in value.items()}

    @model_validator(mode="after")
    def _unique_names(self) -> StoreConfig:
        for kind, items in (("sources", self.sources), ("sinks", self.sinks)):
            seen: set[str] = set()
            for item in items:
                name = item.name or item.type
                if item.name is not None and not re.match(NAME_PATTERN, item.name):
                    raise ValueError(f"{kind}: name {item.name!r} may hold only letters, digits, _ . -")
                if name in seen:
                    raise ValueError(f"{kind}: two are named {name!r}; give each a unique `name`")
                seen.add(name)
        return self

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
    # Where the state database lives; relative to the config file.
    state_dir: Path = Path(".rfmsync")
    stores: dict[str, StoreConfig] = Field(min_length=1)
    # Set by load_config: the folder relative paths in the config are resolved against.
    base_dir: Path = Field(default=Path("."), exclude=True)
    # The connectors the config was validated against; sync/registry.py builds from the same.
    _registry: Registry | None = PrivateAttr(default=None)

    @field_validator("stores")
    @classmethod
    def _store_names(cls, value: dict[str, StoreConfig]) -> dict[str, StoreConfig]:
        for name in value:
            if not re.match(NAME_PATTERN, name):
                raise ValueError(f"store name {name!r} may hold only letters, digits, _ . -")
        return value

    @property
    def registry(self) -> Registry:
        return self._registry or default_registry()

    @property
    def state_path(self) -> Path:
        return self.state_dir if self.state_dir.is_absolute() else self.base_dir / self.state_dir


_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def resolve_env(data: Any, path: str = "", environ: dict[str, str] | None = None,
                from_env: dict[str, list[tuple[str, str]]] | None = None) -> Any:
    """Replaces ${VAR} in every string; the error names the path and the variable, not any value.

    `from_env` collects config path -> variables used there, so that a later error about such a
    value names the variable instead of echoing what it holds (a token pasted into the wrong one)."""
    env = os.environ if environ is None else environ
    if isinstance(data, dict):
        return {k: resolve_env(v, f"{path}.{k}" if path else str(k), environ, from_env) for k, v in data.items()}
    if isinstance(data, list):
        return [resolve_env(v, f"{path}[{i}]", environ, from_env) for i, v in enumerate(data)]
    if isinstance(data, str):
        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in env:
                raise ConfigError(path, f"environment variable {name} is not set")
            if from_env is not None:
                from_env.setdefault(path, []).append((name, env[name]))
            return env[name]
        return _ENV_REFERENCE.sub(substitute, data)
    return data


def _all_keys(registry: Registry) -> list[str]:
    models: list[type[BaseModel]] = [Config, StoreConfig, RfmConfig, *_connector_models(registry)]
    return sorted({name for model in models for name in model.model_fields})


def _message(error: Any, path: str, from_env: dict[str, list[tuple[str, str]]], registry: Registry) -> str:
    message = _plain_message(error, path, registry)
    for where, used in from_env.items():
        if path == where or path.startswith((f"{where}.", f"{where}[")) or where.startswith((f"{path}.", f"{path}[")):
            # The message may quote the value, which came from the environment: name the variable.
            before = message
            for name, value in used:
                if value:
                    message = message.replace(value, f"${{{name}}}")
            if message == before:
                message += f" (the value comes from ${{{used[0][0]}}})"
    return message


def _plain_message(error: Any, path: str, registry: Registry) -> str:
    kind = error["type"]
    if kind == "missing":
        return "required but missing"
    if kind == "extra_forbidden":
        key = path.rsplit(".", 1)[-1]
        close = difflib.get_close_matches(key, _all_keys(registry), n=1)
        return "unknown key" + (f"; did you mean {close[0]!r}?" if close else "")
    if kind == "union_tag_invalid":
        ctx = error.get("ctx", {})
        what = "sink" if ".sinks[" in f".{path}" or path.startswith("sinks") else "source"
        known = ", ".join(sorted(t.strip().strip("'") for t in str(ctx.get("expected_tags", "")).split(",")))
        return f"unknown {what} type {ctx.get('tag')!r}; known: {known}"
    message: str = error["msg"].removeprefix("Value error, ")
    return message


def _connector_models(registry: Registry) -> list[type[BaseModel]]:
    return [*(spec.config for spec in registry.sources.values()), *(spec.config for spec in registry.sinks.values())]


def _union(models: list[type[BaseModel]], base: type[BaseModel]) -> Any:
    if not models:
        return base
    if len(models) == 1:
        return models[0]
    return Annotated[Union[tuple(models)], Field(discriminator="type")]  # noqa: UP007 - built at run time


# Keyed by registry identity: one entry in production (the default registry), a few in tests.
@functools.lru_cache(maxsize=8)
def _config_model(registry: Registry) -> type[Config]:
    """Config whose stores' `sources` and `sinks` take exactly the registered connectors' tables."""
    sources: Any = list[_union([s.config for s in registry.sources.values()], SourceConfig)]  # type: ignore[misc]
    sinks: Any = list[_union([s.config for s in registry.sinks.values()], SinkConfig)]  # type: ignore[misc]
    store = create_model("StoreConfig", __base__=StoreConfig, sources=(sources, Field(default_factory=list)),
                         sinks=(sinks, Field(default_factory=list)))
    return create_model("Config", __base__=Config, stores=(dict[str, store], Field(min_length=1)))  # type: ignore[valid-type]


def _path(loc: tuple[int | str, ...], registry: Registry) -> str:
    """`stores.acme.sinks[0].dir` from pydantic's location (which adds the union's tag after [0])."""
    out = ""
    tags = set(registry.sources) | set(registry.sinks)
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        elif i > 0 and isinstance(loc[i - 1], int) and part in tags:
            continue
        else:
            out += f".{part}" if out else str(part)
    return out


def parse_config(data: dict[str, Any], origin: str = "config", base_dir: Path = Path("."),
                 environ: dict[str, str] | None = None, registry: Registry | None = None) -> Config:
    """The config, validated against `registry` (default: the built-in connectors and installed plugins)."""
    registry = registry or default_registry()
    from_env: dict[str, list[tuple[str, str]]] = {}
    try:
        data = resolve_env(data, environ=environ, from_env=from_env)
    except ConfigError as exc:
        raise ConfigError(f"{origin}: {exc.path}", exc.message) from None
    try:
        config = _config_model(registry).model_validate({**data, "base_dir": base_dir})
    except ValidationError as exc:
        first = exc.errors()[0]
        path = _path(tuple(first["loc"]), registry)
        message = _message(first, path, from_env, registry)
        more = len(exc.errors()) - 1
        raise ConfigError(f"{origin}: {path}" if path else origin,
                          message + (f" (and {more} more problem{'s' if more > 1 else ''})" if more else "")) from None
    for name, store in config.stores.items():
        rfm_settings(store, f"{origin}: stores.{name}")  # bands, weights, scheme/levels combinations
    _one_sink_per_folder(config, origin)
    config._registry = registry
    return config


def _one_sink_per_folder(config: Config, origin: str) -> None:
    """Two sinks writing one folder would overwrite each other's files without a word."""
    seen: dict[Path, str] = {}
    for name, store in config.stores.items():
        for i, sink in enumerate(store.sinks):
            for key, path in sink.exclusive_paths().items():
                folder = (path if path.is_absolute() else config.base_dir / path).resolve()
                where = f"stores.{name}.sinks[{i}].{key}"
                if folder in seen:
                    raise ConfigError(f"{origin}: {where}", f"the same folder as {seen[folder]} ({folder}); each "
                                      f"{sink.type} sink needs a folder of its own")
                seen[folder] = where


def read_toml(path: Path) -> dict[str, Any]:
    """A TOML file's tables; every way it can fail is a ConfigError naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), f"not UTF-8 text (near byte {exc.start}); save it as UTF-8") from None
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read ({exc.strerror or type(exc).__name__})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), f"not valid TOML ({exc})") from None


def load_config(path: Path) -> Config:
    return parse_config(read_toml(path), str(path), path.resolve().parent)


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
