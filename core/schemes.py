"""Built-in segment schemes (docs/scoring.md, "Built-in schemes").

Every scheme reduces to a table over the L x L x L score cells holding a segment index (-1: no
segment), so assigning a million customers is one NumPy lookup. High/low schemes build their table
from the run's comparison values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal, Protocol

import numpy as np
from numpy.typing import NDArray
from rfmsync.core.errors import SchemeError
from rfmsync.core.scoring import Metric

NO_SEGMENT = -1
Grid = Literal["r_fm", "r_f"]


@dataclass(frozen=True)
class SchemeContext:
    levels: int
    # Scores at or above these are "high" (docs/scoring.md, "Comparison").
    comparison: dict[Metric, float] = field(default_factory=dict)


class Scheme(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def segment_names(self) -> tuple[str, ...]: ...
    @property
    def grid(self) -> Grid:
        """The 2-D grid the scheme is defined on, for reports."""
        ...
    @property
    def uses_comparison(self) -> bool: ...
    @property
    def has_micro_segments(self) -> bool: ...
    @property
    def default_levels(self) -> int: ...
    @property
    def default_method(self) -> Literal["quantile", "ranges"]: ...

    def supports_levels(self, levels: int) -> bool: ...

    def cell_table(self, context: SchemeContext) -> NDArray[np.int16]:
        """Shape (L, L, L) indexed [r - 1, f - 1, m - 1]."""
        ...


def fm_score(f: NDArray[np.int64] | int, m: NDArray[np.int64] | int) -> NDArray[np.int64] | int:
    """The mean of F and M with halves rounded up (docs/scoring.md, classic)."""
    return (f + m + 1) // 2


def _check_levels(scheme: Scheme, levels: int) -> None:
    if not scheme.supports_levels(levels):
        raise SchemeError("rfm.levels", f"scheme {scheme.name!r} is defined on {scheme.default_levels} "
                          f"levels; got {levels}")


@dataclass(frozen=True)
class GridScheme:
    """A scheme given as a 5 x 5 table on R and one other axis."""

    name: str
    segment_names: tuple[str, ...]
    grid: Grid
    rows: dict[int, tuple[str, ...]]  # R score -> names for the second axis 1..5
    has_micro_segments: bool = False
    uses_comparison: bool = False
    default_levels: int = 5
    default_method: Literal["quantile", "ranges"] = "quantile"

    def supports_levels(self, levels: int) -> bool:
        return levels == 5

    def cell_table(self, context: SchemeContext) -> NDArray[np.int16]:
        _check_levels(self, context.levels)
        index = {name: i for i, name in enumerate(self.segment_names)}
        table = np.full((5, 5, 5), NO_SEGMENT, dtype=np.int16)
        for r in range(1, 6):
            for f in range(1, 6):
                for m in range(1, 6):
                    second = fm_score(f, m) if self.grid == "r_fm" else f
                    table[r - 1, f - 1, m - 1] = index[self.rows[r][int(second) - 1]]
        return table


CLASSIC = GridScheme(
    name="classic",
    segment_names=("Champions", "Loyal Customers", "Potential Loyalists", "New Customers", "Promising",
                   "Need Attention", "About to Sleep", "At Risk", "Can't Lose Them", "Hibernating", "Lost"),
    grid="r_fm",
    rows={
        5: ("New Customers", "Potential Loyalists", "Potential Loyalists", "Champions", "Champions"),
        4: ("Promising", "Potential Loyalists", "Potential Loyalists", "Loyal Customers", "Champions"),
        3: ("About to Sleep", "About to Sleep", "Need Attention", "Loyal Customers", "Loyal Customers"),
        2: ("Hibernating", "Hibernating", "At Risk", "At Risk", "Can't Lose Them"),
        1: ("Lost", "Lost", "Hibernating", "At Risk", "Can't Lose Them"),
    },
)

RESPONSYS = GridScheme(
    name="responsys",
    segment_names=("Champions", "New", "Promising", "Can't Lose", "At Risk", "Lost"),
    grid="r_f",
    rows={
        5: ("New", "New", "Champions", "Champions", "Champions"),
        4: ("New", "New", "Champions", "Champions", "Champions"),
        3: ("Promising", "Promising", "Champions", "Champions", "Champions"),
        2: ("Lost", "At Risk", "Can't Lose", "Can't Lose", "Can't Lose"),
        1: ("Lost", "At Risk", "Can't Lose", "Can't Lose", "Can't Lose"),
    },
    has_micro_segments=True,
)


@dataclass(frozen=True)
class QuickAudienceScheme:
    """Quick Audience's 8 customer types from high/low R, F and M."""

    name: str = "quick-audience"
    segment_names: tuple[str, ...] = ("High Value", "Key Keep", "Key Develop", "Key Retain",
                                      "General Value", "General Keep", "General Develop", "Potential")
    grid: Grid = "r_f"
    uses_comparison: bool = True
    has_micro_segments: bool = False
    default_levels: int = 3
    default_method: Literal["quantile", "ranges"] = "ranges"

    # (R high, F high, M high) -> type, in docs/scoring.md's table order.
    types: ClassVar[dict[tuple[bool, bool, bool], str]] = {
        (True, True, True): "High Value", (False, True, True): "Key Keep",
        (True, False, True): "Key Develop", (False, False, True): "Key Retain",
        (True, True, False): "General Value", (False, True, False): "General Keep",
        (True, False, False): "General Develop", (False, False, False): "Potential",
    }

    def supports_levels(self, levels: int) -> bool:
        return levels in (3, 4, 5)

    def cell_table(self, context: SchemeContext) -> NDArray[np.int16]:
        _check_levels(self, context.levels)
        levels = context.levels
        index = {name: i for i, name in enumerate(self.segment_names)}
        scores = np.arange(1, levels + 1)
        high = {metric: scores >= context.comparison[metric] for metric in ("r", "f", "m")}
        table = np.empty((levels, levels, levels), dtype=np.int16)
        for r in range(levels):
            for f in range(levels):
                for m in range(levels):
                    key = (bool(high["r"][r]), bool(high["f"][f]), bool(high["m"][m]))
                    table[r, f, m] = index[self.types[key]]
        return table


QUICK_AUDIENCE = QuickAudienceScheme()

_BUILTINS: tuple[Scheme, ...] = (CLASSIC, QUICK_AUDIENCE, RESPONSYS)
BUILTIN_SCHEMES: dict[str, Scheme] = {s.name: s for s in _BUILTINS}


def builtin_scheme(name: str) -> Scheme:
    try:
        return BUILTIN_SCHEMES[name]
    except KeyError:
        raise SchemeError("rfm.scheme", f"unknown scheme {name!r}; built-in schemes are "
                          f"{', '.join(sorted(BUILTIN_SCHEMES))}, or define your own segments") from None


def assign(table: NDArray[np.int16], r: NDArray[np.int64], f: NDArray[np.int64], m: NDArray[np.int64]
           ) -> NDArray[np.int16]:
    """Segment index of each customer (NO_SEGMENT where the table has none)."""
    result: NDArray[np.int16] = table[r - 1, f - 1, m - 1]
    return result


def micro_segments(r: NDArray[np.int64], f: NDArray[np.int64]) -> list[str]:
    """Responsys' 25 R x F micro-segments, named `R{r}F{f}`."""
    return [f"R{a}F{b}" for a, b in zip(r.tolist(), f.tolist(), strict=True)]
