"""User-defined segment schemes from TOML (docs/scoring.md, "Custom schemes") and their check.

```toml
[segments]
[[segments.rules]]
name = "Champions"
r = [4, 5]        # inclusive score range; a single number means exactly that score
fm = [4, 5]
[[segments.rules]]
name = "Big spenders gone quiet"
cells = ["155", "255"]
[[segments.rules]]
name = "Everyone else"  # no conditions: catches the rest
```
The first rule that matches wins.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from rfmsync.core.errors import SchemeError
from rfmsync.core.schemes import NO_SEGMENT, Grid, SchemeContext, fm_score

Axis = Literal["r", "f", "m", "fm"]
AXES: tuple[Axis, ...] = ("r", "f", "m", "fm")


@dataclass(frozen=True)
class Rule:
    name: str
    ranges: tuple[tuple[Axis, int, int], ...] = ()
    cells: frozenset[str] | None = None

    def matches(self, r: int, f: int, m: int) -> bool:
        if self.cells is not None:
            return f"{r}{f}{m}" in self.cells
        values = {"r": r, "f": f, "m": m, "fm": int(fm_score(f, m))}
        return all(lo <= values[axis] <= hi for axis, lo, hi in self.ranges)


@dataclass(frozen=True)
class CustomScheme:
    rules: tuple[Rule, ...]
    name: str = "custom"
    grid: Grid = "r_fm"
    uses_comparison: bool = False
    has_micro_segments: bool = False
    default_levels: int = 5
    default_method: Literal["quantile", "ranges"] = "quantile"

    @property
    def segment_names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(rule.name for rule in self.rules))

    def supports_levels(self, levels: int) -> bool:
        return levels in (3, 4, 5)

    def cell_table(self, context: SchemeContext) -> NDArray[np.int16]:
        levels = context.levels
        index = {name: i for i, name in enumerate(self.segment_names)}
        table = np.full((levels, levels, levels), NO_SEGMENT, dtype=np.int16)
        for r, f, m in itertools.product(range(1, levels + 1), repeat=3):
            for rule in self.rules:
                if rule.matches(r, f, m):
                    table[r - 1, f - 1, m - 1] = index[rule.name]
                    break
        return table


@dataclass(frozen=True)
class SchemeCheck:
    unreachable_cells: tuple[str, ...]
    dead_rules: tuple[str, ...]  # "rules[2] 'Big spenders': every cell it matches is taken by rules[0]"

    @property
    def ok(self) -> bool:
        return not self.unreachable_cells and not self.dead_rules

    def lines(self) -> list[str]:
        out = []
        if self.unreachable_cells:
            out.append(f"{len(self.unreachable_cells)} cells reach no rule (customers there get no segment): "
                       + ", ".join(self.unreachable_cells))
        out.extend(f"dead rule {d}" for d in self.dead_rules)
        return out


def check_scheme(scheme: CustomScheme, levels: int) -> SchemeCheck:
    """Cells no rule reaches, and rules that can never match (empty, or shadowed by earlier rules)."""
    unreachable: list[str] = []
    first_match: dict[int, int] = {}
    matched_any: dict[int, bool] = {}
    for r, f, m in itertools.product(range(1, levels + 1), repeat=3):
        winner = None
        for i, rule in enumerate(scheme.rules):
            if rule.matches(r, f, m):
                matched_any[i] = True
                if winner is None:
                    winner = i
        if winner is None:
            unreachable.append(f"{r}{f}{m}")
        else:
            first_match[winner] = first_match.get(winner, 0) + 1
    dead = []
    for i, rule in enumerate(scheme.rules):
        if first_match.get(i):
            continue
        label = f"rules[{i}] {rule.name!r}"
        if matched_any.get(i):
            dead.append(f"{label}: every cell it matches is taken by an earlier rule")
        else:
            dead.append(f"{label}: matches no cell with {levels} levels")
    return SchemeCheck(tuple(unreachable), tuple(dead))


def _score_range(value: Any, path: str, levels_max: int) -> tuple[int, int]:
    if isinstance(value, bool):
        raise SchemeError(path, "expected a score or a [low, high] pair of scores")
    if isinstance(value, int):
        lo = hi = value
    elif isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) and not isinstance(v, bool)
                                                              for v in value):
        lo, hi = value
    else:
        raise SchemeError(path, f"expected a score or a [low, high] pair of scores, got {value!r}")
    if not 1 <= lo <= hi <= levels_max:
        raise SchemeError(path, f"expected 1 <= low <= high <= {levels_max}, got [{lo}, {hi}]")
    return lo, hi


def scheme_from_toml(table: Mapping[str, Any], path: str = "segments") -> CustomScheme:
    """A custom scheme from its TOML table; errors name the exact path of the bad value."""
    if not isinstance(table, Mapping):
        raise SchemeError(path, "expected a table with a `rules` list")
    unknown = set(table) - {"rules", "name", "grid"}
    if unknown:
        raise SchemeError(f"{path}.{sorted(unknown)[0]}", "unknown key; expected `rules`, `name` or `grid`")
    raw_rules = table.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        raise SchemeError(f"{path}.rules", "expected a non-empty list of rules ([[...rules]] tables)")
    grid = table.get("grid", "r_fm")
    if grid not in ("r_fm", "r_f"):
        raise SchemeError(f"{path}.grid", f"expected 'r_fm' or 'r_f', got {grid!r}")
    rules = []
    for i, raw in enumerate(raw_rules):
        rule_path = f"{path}.rules[{i}]"
        if not isinstance(raw, Mapping):
            raise SchemeError(rule_path, "expected a table with `name` and conditions")
        extra = set(raw) - {"name", "cells", *AXES}
        if extra:
            raise SchemeError(f"{rule_path}.{sorted(extra)[0]}",
                              "unknown key; a rule takes `name`, `cells` or ranges on r, f, m, fm")
        name = raw.get("name")
        if not isinstance(name, str) or not name.strip():
            raise SchemeError(f"{rule_path}.name", "expected a non-empty segment name")
        ranges = tuple((axis, *_score_range(raw[axis], f"{rule_path}.{axis}", 5)) for axis in AXES if axis in raw)
        cells = None
        if "cells" in raw:
            if ranges:
                raise SchemeError(f"{rule_path}.cells", "use either `cells` or score ranges in one rule, not both")
            cells_raw = raw["cells"]
            if not isinstance(cells_raw, list) or not all(
                isinstance(c, str) and len(c) == 3 and all(ch in "12345" for ch in c) for c in cells_raw
            ):
                raise SchemeError(f"{rule_path}.cells", 'expected a list of three-digit cells like ["555", "545"]')
            cells = frozenset(cells_raw)
        rules.append(Rule(name=name.strip(), ranges=ranges, cells=cells))
    return CustomScheme(rules=tuple(rules), name=str(table.get("name", "custom")), grid=grid)
