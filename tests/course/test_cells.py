"""course.cells: the one reader and writer of nbgrader's cell metadata."""

from __future__ import annotations

import re
from pathlib import Path

from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from course.cells import (
    cell_by_id,
    cells_by_id,
    exercises,
    grade_id_of,
    graded_points,
    has_nbgrader_meta,
    is_locked,
    is_solution,
    is_test,
    mark,
    points,
    unmark,
)

COURSE = Path(__file__).resolve().parents[2] / "course"


def _lesson():
    return new_notebook(
        cells=[
            mark(new_markdown_cell("# Exercise 1"), grade_id="intro", locked=True),
            mark(new_code_cell("x = 1"), grade_id="ex1", solution=True),
            mark(new_code_cell("assert x"), grade_id="test_ex1", grade=True, points=2),
            mark(new_markdown_cell("Why?"), grade_id="why", grade=True, solution=True, points=1),
            new_code_cell("print(x)"),
        ]
    )


def test_roles_and_points_are_read_from_the_metadata():
    intro, answer, test, why, plain = _lesson().cells
    assert [grade_id_of(c) for c in (intro, answer, test, why, plain)] == [
        "intro",
        "ex1",
        "test_ex1",
        "why",
        None,
    ]
    assert is_locked(intro) and not is_locked(answer)
    assert is_solution(answer) and is_solution(why) and not is_solution(test)
    assert is_test(test) and not is_test(why) and not is_test(plain)  # why is graded by hand
    assert points(test) == 2.0 and points(plain) == 0.0


def test_notebook_views_follow_the_cells():
    nb = _lesson()
    assert list(cells_by_id(nb)) == ["intro", "ex1", "test_ex1", "why"]
    assert graded_points(nb) == {"test_ex1": 2.0}
    assert exercises(nb) == {"ex1": ["test_ex1"], "why": []}
    assert cell_by_id(nb, "ex1").source == "x = 1"
    try:
        cell_by_id(nb, "ex9")
    except KeyError as error:
        assert "known: intro, ex1, test_ex1, why" in str(error)
    else:
        raise AssertionError("an unknown grade_id must raise KeyError")


def test_unmark_makes_an_ordinary_cell_and_an_empty_grade_id_is_none():
    cell = mark(new_code_cell("x"), grade_id="")
    assert has_nbgrader_meta(cell) and grade_id_of(cell) is None
    assert unmark(cell) == {"grade_id": ""} and not has_nbgrader_meta(cell)
    assert unmark(cell) is None  # nothing left to remove


def test_no_module_reads_nbgrader_cell_metadata_by_hand():
    by_hand = re.compile(
        r"""metadata(\.get\(|\[)["']nbgrader["']"""  # cell.metadata["nbgrader"], .get("nbgrader"
        r"""|["']metadata["'], \{\}\)\.get\(["']nbgrader"""  # cell.get("metadata", {}).get(...
        r"|metadata\.nbgrader\b"  # cell.metadata.nbgrader
    )
    offenders = [
        f"{path.relative_to(COURSE.parent)}:{number}"
        for path in COURSE.rglob("*.py")
        if path.name != "cells.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if by_hand.search(line) and ">>>" not in line
    ]
    assert offenders == []
