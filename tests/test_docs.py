"""The README and the guides in docs/ stay true to the repository.

- every relative link and picture in README.md, docs/*.md and tests/corpus/README.md points
  at a file that exists, and a ``#fragment`` at a heading of that file;
- the README's two commands are ``make lab`` and ``make test``; both targets build the
  virtual environment from the pinned requirements first, and ``.ci/run`` runs ``make test``;
- the README's lessons table lists every lesson in ``solutions/``, links its learner
  notebook, and gives the points its nbgrader test cells carry, and the course total.

Files only: no kernel, no TensorFlow (well under a second).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
PAGES = [README, *sorted((REPO / "docs").glob("*.md")), REPO / "tests" / "corpus" / "README.md"]

FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
COMMAND_BLOCK = re.compile(r"^```bash\n(.*?)^```", re.MULTILINE | re.DOTALL)


def prose(markdown: str) -> str:
    """``markdown`` without code blocks and inline code, where a link is only an example.

    >>> prose("see [a](b.md) `[c](d.md)`")
    'see [a](b.md) '
    """
    return INLINE_CODE.sub("", FENCE.sub("", markdown))


def slug(heading: str) -> str:
    """The fragment GitHub gives a heading: lower case, punctuation dropped, spaces to '-'.

    >>> slug("What plain `nbgrader autograde` does not protect against")
    'what-plain-nbgrader-autograde-does-not-protect-against'
    """
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """The fragments of every heading of ``page`` (code blocks skipped)."""
    return {slug(heading) for heading in HEADING.findall(FENCE.sub("", page.read_text()))}


def relative_links(page: Path) -> list[str]:
    """Every link and picture target of ``page`` that is not a URL or an e-mail address."""
    return [
        target
        for target in LINK.findall(prose(page.read_text()))
        if not re.match(r"[a-z][a-z0-9+.-]*:", target)
    ]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(REPO)))
def test_relative_links_and_pictures_resolve(page: Path) -> None:
    links = relative_links(page)
    broken = []
    for target in links:
        path, _, fragment = target.partition("#")
        destination = (page.parent / path).resolve() if path else page
        if not destination.exists():
            broken.append(f"{target}: no file {destination}")
        elif fragment and destination.suffix == ".md" and fragment not in anchors(destination):
            broken.append(f"{target}: no heading #{fragment} in {destination.name}")
    assert not broken, f"{page.relative_to(REPO)}: " + "; ".join(broken)


def test_the_link_check_finds_a_broken_link_and_a_missing_heading(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    (tmp_path / "there.md").write_text("# A heading\n")
    page.write_text(
        "[ok](there.md#a-heading) [gone](missing.md) [wrong](there.md#nothing)\n"
        "```\n[in code](ignored.md)\n```\n![picture](there.md) [web](https://example.org)\n"
    )
    assert relative_links(page) == [
        "there.md#a-heading",
        "missing.md",
        "there.md#nothing",
        "there.md",
    ]
    assert anchors(tmp_path / "there.md") == {"a-heading"}


def test_the_guides_are_linked_from_the_readme() -> None:
    linked = {(README.parent / target).resolve() for target in relative_links(README)}
    guides = {page.resolve() for page in PAGES if page.parent == REPO / "docs"}
    assert guides <= linked, f"not linked from README.md: {sorted(guides - linked)}"


def test_the_readme_commands_are_make_lab_and_make_test() -> None:
    blocks = COMMAND_BLOCK.findall(README.read_text())
    commands = [line.split("#", 1)[0].strip() for line in blocks[0].splitlines() if line.strip()]
    assert commands == ["make lab", "make test"]

    ci = [
        line.strip()
        for line in (REPO / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert ci[-1] == "exec make test", "CI must run exactly the README's test command"

    makefile = (REPO / "Makefile").read_text()
    stamp = re.search(r"^\$\(STAMP\):.*\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert stamp and "pip install --quiet -r requirements.txt" in stamp.group(1)
    for target in ("lab", "test"):
        rule = re.search(rf"^{target}:(.*)$", makefile, re.MULTILINE)
        assert rule and "$(STAMP)" in rule.group(1).split(), f"make {target} must build .venv"


def lesson_points(notebook: Path) -> int:
    """The points of a lesson: the sum of its graded cells' nbgrader ``points``."""
    cells = json.loads(notebook.read_text())["cells"]
    meta = [cell.get("metadata", {}).get("nbgrader", {}) for cell in cells]
    return sum(m.get("points", 0) for m in meta if m.get("grade"))


def test_the_lessons_table_matches_the_lessons() -> None:
    rows = re.findall(
        r"^\| (\d\d) \| \[[^\]]+\]\(notebooks/([^/)]+)/([^)]+)\.ipynb\) \| [^|]+ \| (\d+) \|$",
        README.read_text(),
        re.MULTILINE,
    )
    table = {folder: int(points) for _, folder, _, points in rows}
    assert all(folder == name for _, folder, name, _ in rows), rows

    lessons = sorted(
        folder.name
        for folder in (REPO / "solutions").iterdir()
        if (folder / f"{folder.name}.ipynb").is_file()
    )
    assert sorted(table) == lessons
    assert all(folder[:2] == number for number, folder, _, _ in rows)
    actual = {name: lesson_points(REPO / "solutions" / name / f"{name}.ipynb") for name in lessons}
    assert table == actual

    total = re.search(r"\*\*Course total\*\* \| \*\*(\d+)\*\* \|", README.read_text())
    assert total and int(total.group(1)) == sum(actual.values())
