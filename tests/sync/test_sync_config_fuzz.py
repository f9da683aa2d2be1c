"""Fuzzing the config loader: random TOML of valid and invalid keys gives a Config or a ConfigError."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from rfmsync.core.errors import ConfigError
from rfmsync.sync.config import load_config

VALUES = st.one_of(st.integers(-5, 10_000), st.floats(allow_nan=True), st.text(max_size=12), st.booleans(),
                   st.sampled_from(["csv", "shopify", "mailchimp", "webhook", "woocommerce", "UTC", "Mars/Base",
                                    "0 4 * * *", "classic", "custom", "${NOPE_NOT_SET}", "out/x", "2026-11-01"]))
KEYS = st.sampled_from(["type", "path", "dir", "timezone", "schedule", "window_days", "half_life_days", "levels",
                        "scheme", "currency", "rates", "name", "map", "url", "secret", "as_of", "lookback_minutes",
                        "fields", "batch_size", "typo_key", "shop", "api_key", "list_id", "delimiter", "decimal"])
TABLE = st.dictionaries(KEYS, VALUES, max_size=6)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if value != value else ("inf" if value == float("inf") else
                                             "-inf" if value == float("-inf") else repr(value))
    if isinstance(value, int):
        return str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


@settings(max_examples=300, deadline=2000)
@given(store=TABLE, rfm=TABLE, sources=st.lists(TABLE, max_size=2), sinks=st.lists(TABLE, max_size=2),
       top=st.dictionaries(st.sampled_from(["state_dir", "state_url", "nonsense"]), VALUES, max_size=2))
def test_random_configs_load_or_fail_with_a_config_error(store: dict[str, Any], rfm: dict[str, Any],
                                                         sources: list[dict[str, Any]], sinks: list[dict[str, Any]],
                                                         top: dict[str, Any]) -> None:
    lines = [f"{k} = {_toml_value(v)}" for k, v in top.items()]
    lines.append("[stores.acme]")
    lines += [f"{k} = {_toml_value(v)}" for k, v in store.items() if k not in ("rfm",)]
    lines.append("[stores.acme.rfm]")
    lines += [f"{k} = {_toml_value(v)}" for k, v in rfm.items()]
    for kind, tables in (("sources", sources), ("sinks", sinks)):
        for table in tables:
            lines.append(f"[[stores.acme.{kind}]]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in table.items()]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rfmsync.toml"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        try:
            load_config(path)
        except ConfigError as exc:
            assert str(exc)
