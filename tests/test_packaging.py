"""The installed package list must match the folders on disk: setuptools silently leaves out any
subpackage the explicit list does not name, and nothing may install a bare `core`."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]


def _package_folders() -> dict[str, str]:
    """Every folder under the mapped roots that holds Python code, as its installed dotted name."""
    found = {}
    for package, folder in SETUPTOOLS["package-dir"].items():
        base = ROOT / folder
        for init in base.rglob("__init__.py"):
            rel = init.parent.relative_to(base)
            found[".".join([package, *rel.parts])] = str(init.parent.relative_to(ROOT))
    return found


def test_package_list_matches_folders_on_disk() -> None:
    assert sorted(SETUPTOOLS["packages"]) == sorted(_package_folders())


def test_every_mapped_folder_ships_py_typed() -> None:
    for folder in SETUPTOOLS["package-dir"].values():
        assert (ROOT / folder / "py.typed").is_file(), folder


def test_code_folders_hold_no_stray_modules_outside_packages() -> None:
    for folder in SETUPTOOLS["package-dir"].values():
        for source in (ROOT / folder).rglob("*.py"):
            assert (source.parent / "__init__.py").is_file(), f"{source} is not inside a package"


def _editable_install() -> bool:
    direct_url = importlib.metadata.distribution("rfmsync").read_text("direct_url.json") or "{}"
    return bool(json.loads(direct_url).get("dir_info", {}).get("editable"))


@pytest.mark.skipif(_editable_install(), reason="an editable install lists the source folders, not what a "
                    "wheel installs; `make test` checks a regular install")
def test_nothing_installs_a_bare_core() -> None:
    installed = importlib.metadata.files("rfmsync") or []
    top_level = {f.parts[0] for f in installed if not f.parts[0].startswith(("..", "__editable__"))}
    assert {t for t in top_level if not t.startswith("rfmsync")} == set()
    assert importlib.util.find_spec("rfmsync.core") is not None


def test_demo_orders_ship_as_package_data() -> None:
    from rfmsync.sync.score_cmd import demo_orders_path

    path = demo_orders_path()
    assert path.is_file()
    assert path.read_text(encoding="utf-8").startswith("order_id,customer_id,email,created_at,total")
