"""The README is a short map: under 200 lines, linking every docs page; every relative link resolves."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PAGES = sorted((ROOT / "docs").glob("*.md"))
LINK = re.compile(r"\]\(([^)\s]+)\)")


def without_code(path: Path) -> str:
    return re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)


def anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
            for heading in re.findall(r"^#+ (.*)$", without_code(path), flags=re.M)}


def test_the_readme_is_a_map_under_200_lines_linking_every_page() -> None:
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) < 200
    assert PAGES
    assert [page.name for page in PAGES if f"](docs/{page.name}" not in text] == []


def resolves(page: Path, target: str) -> bool:
    """Whether a relative link from ``page`` names an existing file (and, for a page, one of its headings)."""
    file, _, fragment = target.partition("#")
    destination = page.parent / file if file else page
    if not destination.exists():
        return False
    return not fragment or destination.suffix != ".md" or fragment in anchors(destination)


@pytest.mark.parametrize("path", [README, *PAGES], ids=lambda path: path.name)
def test_every_relative_link_resolves(path: Path) -> None:
    links = [target for target in LINK.findall(without_code(path)) if not re.match(r"[a-z]+://|mailto:", target)]
    assert [target for target in links if not resolves(path, target)] == []
