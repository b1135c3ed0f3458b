"""The instructor notebooks carry outputs that nbval can compare: executed top to bottom
by `course build` after the last edit, with no output a pytest run cannot reproduce.

(nbval itself runs the notebooks: pytest collects solutions/*/*.ipynb with --nbval, see
the repository's conftest.py.)
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from course.lessons import find_lessons

REPO = Path(__file__).resolve().parents[2]
FIXTURE_COURSE = REPO / "tests" / "pipeline" / "fixtures" / "course"
LESSONS = find_lessons(REPO) + find_lessons(FIXTURE_COURSE)


@pytest.mark.parametrize("lesson", LESSONS, ids=[lesson.name for lesson in LESSONS])
def test_solution_notebook_was_executed_top_to_bottom(lesson):
    nb = nbformat.read(lesson.source_notebook, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    counts = [cell.execution_count for cell in code]
    assert counts == list(range(1, len(code) + 1)), (
        f"{lesson.source_notebook.name}: execution counts {counts}; "
        f"run `course build {lesson.name}` so the stored outputs come from one clean run"
    )
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"


@pytest.mark.parametrize("lesson", LESSONS, ids=[lesson.name for lesson in LESSONS])
def test_solution_notebook_has_no_unreproducible_outputs(lesson):
    nb = nbformat.read(lesson.source_notebook, as_version=4)
    problems = []
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.output_type == "stream" and output.name == "stderr":
                # Under pytest the kernel does not capture C++ log lines, so nbval would miss them.
                problems.append(f"cell {index}: stderr output {output.text[:80]!r}")
            if output.output_type == "error" and "raises-exception" not in cell.metadata.get(
                "tags", []
            ):
                problems.append(
                    f"cell {index}: {output.ename}: {output.evalue[:80]} "
                    "(tag the cell raises-exception if intended)"
                )
    assert not problems, f"{lesson.source_notebook.name}: " + "; ".join(problems)
