"""Custom segment schemes from TOML and their check (docs/scoring.md, "Custom schemes")."""

from __future__ import annotations

import itertools
import tomllib
from typing import Any

import numpy as np
import pytest
from rfmsync.core.aggregate import CustomerMetrics
from rfmsync.core.custom import CustomScheme, Rule, check_scheme, scheme_from_toml
from rfmsync.core.errors import SchemeError
from rfmsync.core.rfm import RfmSettings, score
from rfmsync.core.schemes import NO_SEGMENT, SchemeContext

EXAMPLE = """
[segments]
name = "shop"
[[segments.rules]]
name = "Champions"
r = [4, 5]
fm = [4, 5]
[[segments.rules]]
name = "Big spenders gone quiet"
cells = ["155", "255"]
[[segments.rules]]
name = "Recent"
r = 5
[[segments.rules]]
name = "Everyone else"
"""


def parse(text: str) -> CustomScheme:
    return scheme_from_toml(tomllib.loads(text)["segments"])


def scheme_of(*rules: dict[str, Any]) -> CustomScheme:
    return scheme_from_toml({"rules": list(rules)})


def test_parse_example() -> None:
    scheme = parse(EXAMPLE)
    assert scheme.name == "shop"
    assert scheme.grid == "r_fm"
    assert scheme.rules == (
        Rule("Champions", ranges=(("r", 4, 5), ("fm", 4, 5))),
        Rule("Big spenders gone quiet", cells=frozenset({"155", "255"})),
        Rule("Recent", ranges=(("r", 5, 5),)),
        Rule("Everyone else"),
    )
    assert scheme.segment_names == ("Champions", "Big spenders gone quiet", "Recent", "Everyone else")


def test_first_match_wins_and_catch_all() -> None:
    scheme = parse(EXAMPLE)
    table = scheme.cell_table(SchemeContext(levels=5))
    name = {i: n for i, n in enumerate(scheme.segment_names)}
    assert name[table[4, 4, 4]] == "Champions"  # 555: Champions before Recent
    assert name[table[4, 0, 0]] == "Recent"  # 511: FM 1
    assert name[table[0, 4, 4]] == "Big spenders gone quiet"  # 155
    assert name[table[3, 4, 2]] == "Champions"  # 453: FM (5+3+1)//2 = 4
    assert name[table[3, 4, 1]] == "Champions"  # 452: FM 8//2 = 4
    assert name[table[3, 4, 0]] == "Everyone else"  # 451: FM 7//2 = 3, R4 is not Recent
    assert name[table[0, 0, 0]] == "Everyone else"
    # Cell counts by hand. Champions: R in {4, 5} x (F, M) with F + M >= 7 (4 + 3 + 2 + 1 = 10 pairs) = 20.
    # Big spenders: 155 and 255 = 2. Recent: R5 with F + M < 7 = 25 - 10 = 15. The rest: 125 - 37 = 88.
    assert np.bincount(table.ravel(), minlength=4).tolist() == [20, 2, 15, 88]
    check = check_scheme(scheme, 5)
    assert check.ok and check.lines() == []


def test_f_and_m_ranges() -> None:
    scheme = scheme_of({"name": "Frequent", "f": [4, 5]}, {"name": "Spender", "m": 5}, {"name": "Rest"})
    table = scheme.cell_table(SchemeContext(levels=5))
    assert table[0, 3, 0] == 0 and table[2, 4, 4] == 0  # F 4, F 5
    assert table[0, 2, 4] == 1 and table[4, 0, 4] == 1  # F < 4, M 5
    assert table[4, 2, 3] == 2
    # Frequent: 5 * 2 * 5 = 50 cells; Spender: 5 * 3 * 1 = 15; Rest: 60.
    assert np.bincount(table.ravel()).tolist() == [50, 15, 60]


def test_unreachable_cells_are_reported_exactly() -> None:
    scheme = scheme_of({"name": "Active", "r": [3, 5]})
    check = check_scheme(scheme, 5)
    expected = [f"{r}{f}{m}" for r in (1, 2) for f in range(1, 6) for m in range(1, 6)]
    assert len(expected) == 50
    assert list(check.unreachable_cells) == expected
    assert check.dead_rules == ()
    assert not check.ok
    assert check.lines() == [
        "50 cells reach no rule (customers there get no segment): " + ", ".join(expected)
    ]
    # Three levels: r in {1, 2} x 3 x 3 = 18 cells.
    check3 = check_scheme(scheme, 3)
    assert list(check3.unreachable_cells) == [f"{r}{f}{m}" for r in (1, 2) for f in (1, 2, 3) for m in (1, 2, 3)]
    table = scheme.cell_table(SchemeContext(levels=3))
    assert (table[:2] == NO_SEGMENT).all() and (table[2] == 0).all()


def test_unreachable_single_cells() -> None:
    scheme = scheme_of({"name": "All but two", "cells": [
        f"{r}{f}{m}" for r, f, m in itertools.product("12345", repeat=3) if f"{r}{f}{m}" not in ("315", "142")
    ]})
    assert check_scheme(scheme, 5).unreachable_cells == ("142", "315")


def test_dead_rule_shadowed_by_earlier_rules() -> None:
    scheme = scheme_of(
        {"name": "Old", "r": [1, 2]},
        {"name": "Recent", "r": [3, 5]},
        {"name": "Lapsed big spenders", "r": 1, "m": 5},  # every such cell is taken by "Old"
        {"name": "Fallback"},  # nothing left either
    )
    check = check_scheme(scheme, 5)
    assert check.unreachable_cells == ()
    assert check.dead_rules == (
        "rules[2] 'Lapsed big spenders': every cell it matches is taken by an earlier rule",
        "rules[3] 'Fallback': every cell it matches is taken by an earlier rule",
    )
    assert check.lines() == [f"dead rule {d}" for d in check.dead_rules]


def test_dead_rule_matching_no_cell() -> None:
    # F = 1 makes FM = (1 + M + 1) // 2 at most (1 + 5 + 1) // 2 = 3, never 5.
    scheme = scheme_of({"name": "Impossible", "f": 1, "fm": 5}, {"name": "Empty list", "cells": []},
                       {"name": "Rest"})
    check = check_scheme(scheme, 5)
    assert check.dead_rules == (
        "rules[0] 'Impossible': matches no cell with 5 levels",
        "rules[1] 'Empty list': matches no cell with 5 levels",
    )
    assert check.unreachable_cells == ()


def test_rules_beyond_the_levels_match_nothing() -> None:
    scheme = scheme_of({"name": "Top", "r": [4, 5]}, {"name": "Cell", "cells": ["355"]}, {"name": "Rest"})
    check = check_scheme(scheme, 3)
    assert check.dead_rules == ("rules[0] 'Top': matches no cell with 3 levels",
                                "rules[1] 'Cell': matches no cell with 3 levels")
    assert check_scheme(scheme, 5).ok


def test_catch_all_first_shadows_everything() -> None:
    scheme = scheme_of({"name": "Everyone"}, {"name": "Champions", "r": 4})  # R4 is the top of 4 levels
    check = check_scheme(scheme, 4)
    assert check.dead_rules == ("rules[1] 'Champions': every cell it matches is taken by an earlier rule",)
    assert (scheme.cell_table(SchemeContext(levels=4)) == 0).all()


def test_duplicate_names_share_one_segment() -> None:
    scheme = scheme_of({"name": "VIP", "r": 5}, {"name": "VIP", "cells": ["155"]}, {"name": "Rest"})
    assert scheme.segment_names == ("VIP", "Rest")
    table = scheme.cell_table(SchemeContext(levels=5))
    assert table[0, 4, 4] == 0 and table[4, 0, 0] == 0 and table[0, 0, 0] == 1


def test_custom_scheme_through_score_with_unsegmented() -> None:
    scheme = scheme_of({"name": "Top", "r": 3}, {"name": "Middle", "r": [2, 3]})
    # 3 levels, quantiles. R: 20 days rank 1 -> 1, 10 -> 1 + 3//3 = 2, 0 -> 1 + 6//3 = 3.
    metrics = CustomerMetrics(["a", "b", "c"], np.arange(3, dtype=np.int64), np.asarray([0, 10, 20], np.int64),
                              np.asarray([1.0, 1.0, 1.0]), np.asarray([5.0, 5.0, 5.0]))
    result = score(metrics, RfmSettings(scheme=scheme, levels=3))
    assert result.scores.cells() == ["311", "211", "111"]
    assert result.segment_labels() == ["Top", "Middle", ""]
    assert result.segment_counts() == {"Top": 1, "Middle": 1, "": 1}
    assert result.unsegmented == 1
    with pytest.raises(SchemeError, match="expected 3, 4 or 5, got 2"):
        score(metrics, RfmSettings(scheme=scheme, levels=2))


# --- errors name the exact TOML path


@pytest.mark.parametrize(
    ("rules", "path", "message"),
    [
        ([{"name": "A"}, {"name": "B", "r": [0, 2]}], "segments.rules[1].r",
         "expected 1 <= low <= high <= 5, got [0, 2]"),
        ([{"name": "A", "f": [4, 2]}], "segments.rules[0].f", "expected 1 <= low <= high <= 5, got [4, 2]"),
        ([{"name": "A", "m": 6}], "segments.rules[0].m", "expected 1 <= low <= high <= 5, got [6, 6]"),
        ([{"name": "A"}, {"name": "B"}, {"name": "C", "fm": [1, 2, 3]}], "segments.rules[2].fm",
         "expected a score or a [low, high] pair of scores, got [1, 2, 3]"),
        ([{"name": "A", "r": "3"}], "segments.rules[0].r", "expected a score or a [low, high] pair of scores, got '3'"),
        ([{"name": "A", "r": True}], "segments.rules[0].r", "expected a score or a [low, high] pair of scores"),
        ([{"name": "A", "r": [1.0, 2]}], "segments.rules[0].r",
         "expected a score or a [low, high] pair of scores, got [1.0, 2]"),
        ([{"name": "A", "segment": "x"}], "segments.rules[0].segment",
         "unknown key; a rule takes `name`, `cells` or ranges on r, f, m, fm"),
        ([{"name": "A"}, {"r": 1}], "segments.rules[1].name", "expected a non-empty segment name"),
        ([{"name": "  "}], "segments.rules[0].name", "expected a non-empty segment name"),
        ([{"name": "A", "r": 1, "cells": ["111"]}], "segments.rules[0].cells",
         "use either `cells` or score ranges in one rule, not both"),
        ([{"name": "A", "cells": ["56"]}], "segments.rules[0].cells",
         'expected a list of three-digit cells like ["555", "545"]'),
        ([{"name": "A", "cells": ["116"]}], "segments.rules[0].cells",
         'expected a list of three-digit cells like ["555", "545"]'),
        ([{"name": "A", "cells": "111"}], "segments.rules[0].cells",
         'expected a list of three-digit cells like ["555", "545"]'),
        (["A"], "segments.rules[0]", "expected a table with `name` and conditions"),
        ([], "segments.rules", "expected a non-empty list of rules ([[...rules]] tables)"),
    ],
)
def test_rule_errors_name_the_path(rules: list[Any], path: str, message: str) -> None:
    with pytest.raises(SchemeError) as err:
        scheme_from_toml({"rules": rules})
    assert err.value.path == path
    assert err.value.message == message
    assert str(err.value) == f"{path}: {message}"


def test_table_errors_name_the_path() -> None:
    with pytest.raises(SchemeError) as err:
        scheme_from_toml({"rules": [{"name": "A"}], "colour": "red"})
    assert err.value.path == "segments.colour"
    with pytest.raises(SchemeError) as err:
        scheme_from_toml({"name": "x"})
    assert err.value.path == "segments.rules"
    with pytest.raises(SchemeError) as err:
        scheme_from_toml({"rules": [{"name": "A"}], "grid": "r_m"})
    assert (err.value.path, err.value.message) == ("segments.grid", "expected 'r_fm' or 'r_f', got 'r_m'")
    with pytest.raises(SchemeError) as err:
        scheme_from_toml([{"name": "A"}])  # type: ignore[arg-type]
    assert err.value.path == "segments"


def test_error_path_under_a_store_table() -> None:
    text = """
[stores.acme.segments]
[[stores.acme.segments.rules]]
name = "Ok"
r = 5
[[stores.acme.segments.rules]]
name = "Bad"
r = [3, 9]
"""
    table = tomllib.loads(text)["stores"]["acme"]["segments"]
    with pytest.raises(SchemeError, match=r"expected 1 <= low <= high <= 5, got \[3, 9\]") as err:
        scheme_from_toml(table, path="stores.acme.segments")
    assert err.value.path == "stores.acme.segments.rules[1].r"


def test_grid_and_name_are_kept() -> None:
    scheme = scheme_from_toml({"rules": [{"name": " Padded ", "r": [1, 5]}], "grid": "r_f"})
    assert (scheme.name, scheme.grid, scheme.segment_names) == ("custom", "r_f", ("Padded",))
