"""The repository stands alone: every doc the code cites is in docs/, and every cited section exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CODE = ("core", "connectors", "sync", "testing", "rfmsync_init", "tests", "benchmarks", "examples")


def _code_text() -> list[tuple[Path, str]]:
    paths = [path for folder in CODE for path in sorted((ROOT / folder).rglob("*.py"))]
    return [(path, path.read_text(encoding="utf-8")) for path in paths]


def test_cited_docs_are_in_the_repository() -> None:
    cited = {(path.relative_to(ROOT), doc) for path, text in _code_text()
             for doc in re.findall(r"docs/[\w/.-]+\.md", text)}
    assert cited, "the code cites no docs: the pattern is wrong"
    assert [(str(path), doc) for path, doc in sorted(cited) if not (ROOT / doc).is_file()] == []


def test_cited_platform_sections_exist() -> None:
    text = (ROOT / "docs/platforms.md").read_text(encoding="utf-8")
    headings = set(re.findall(r"^#{2,4} (\d+(?:\.\d+)?)[. ]", text, re.MULTILINE))
    # §0 ("surprises") is a numbered list: §0.8 is its item 8.
    surprises = text[text.index("## 0."):text.index("## 1.")]
    headings |= {f"0.{n}" for n in re.findall(r"^(\d+)\. ", surprises, re.MULTILINE)}
    cited = {section for _, text in _code_text()
             for section in re.findall(r"docs/platforms\.md §(\d+(?:\.\d+)?)", text)}
    assert {"1", "1.1", "4", "4.8"} <= cited
    assert sorted(cited - headings) == []
