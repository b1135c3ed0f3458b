"""The grader's notes: a markdown cell at the top of an autograded notebook, and what it says
about a notebook's run (:func:`execution_notes`).

The cell is marked in its metadata (``{"course_grade": "notes"}``). A learner can put the
same marker on a cell of their own; the kit's ``GuardSubmission`` preprocessor removes it
(and labels that cell as the learner's) before grading, so after grading only the
grader's own note carries it.

Example:
    >>> cell = notes_cell(["Cell 3 ran out of memory"])
    >>> is_notes_cell(cell), cell.source.splitlines()[0]
    (True, '**Notes from the grader**')
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import nbformat
from nbformat import NotebookNode

from course.cells import grade_id_of
from course.grading.settings import format_bytes

if TYPE_CHECKING:
    from course.grading.records import ExecutionReport

NOTES_TITLE = "Notes from the grader"
#: Error name of the outputs the grader adds to cells (kernel stopped / cell not run).
STOPPED = "GradingStopped"
NOT_RUN = "NotRun"


def notes_cell(notes: Sequence[str], title: str = NOTES_TITLE) -> NotebookNode:
    """A markdown cell listing ``notes``, put at the top of the autograded notebook and
    marked as the grader's (:func:`is_notes_cell`)."""
    text = f"**{title}**\n\n" + "\n".join(f"- {note}" for note in notes)
    return nbformat.v4.new_markdown_cell(text, metadata={"course_grade": "notes"})


def is_notes_cell(cell: NotebookNode) -> bool:
    """Whether ``cell`` carries the grader's notes marker (:func:`notes_cell`).

    >>> notes = notes_cell(["Cell 3 ran out of memory"])
    >>> is_notes_cell(notes), is_notes_cell(nbformat.v4.new_markdown_cell("hi"))
    (True, False)
    """
    return cell.get("metadata", {}).get("course_grade") == "notes"


def execution_notes(
    nb: NotebookNode, report: ExecutionReport, memory_limit: int | None
) -> list[str]:
    """Plain-language notes on what went wrong while the notebook executed."""
    notes = []

    def where(index: int) -> str:
        gid = grade_id_of(nb.cells[index])
        return f"cell {index + 1}" + (f" (`{gid}`)" if gid else "")

    for index in report.timed_out:
        limit = f" ({report.timeout} s)" if report.timeout else ""
        notes.append(
            f"{where(index).capitalize()} ran longer than the time limit for one cell{limit} and "
            "was interrupted."
        )
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and any(
            o.output_type == "error" and o.get("ename") == "MemoryError"
            for o in cell.get("outputs", [])
        ):
            limit = f" (the grading limit is {format_bytes(memory_limit)})" if memory_limit else ""
            notes.append(f"{where(index).capitalize()} ran out of memory{limit}.")
    budget = budget_note(nb, report.budget, report.budget_cut, report.budget_skipped)
    if budget:
        notes.append(budget)
    if report.stopped_at is not None:
        notes.append(stopped_note(nb, report.stopped_at, report.stop_reason or ""))
    if report.output_truncated:
        notes.append("Your notebook printed too much output; the grader kept only the beginning.")
    return notes


def budget_note(
    nb: NotebookNode, budget: int | None, cut: int | None, skipped: Sequence[int]
) -> str | None:
    """The grader's note when a notebook used up its time budget (``budget`` seconds; the
    budget ran out in cell index ``cut``, the code cells ``skipped`` were not run), or None.
    Both graders write it: the same text for the same run.

    >>> nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("sleep(9)")] * 3)
    >>> print(budget_note(nb, 10, 1, [2]))
    Your notebook used up its time budget (10 s for all cells together) in cell 2; the 1 cell \
after it was not run, so their tests score 0.
    >>> budget_note(nb, 10, None, []) is None
    True
    """
    if cut is None and not skipped:
        return None
    where = ""
    if cut is not None:
        gid = grade_id_of(nb.cells[cut])
        where = f" in cell {cut + 1}" + (f" (`{gid}`)" if gid else "")
    n = len(skipped)
    after = (
        f"; the {n} cell{'s' * (n != 1)} after it {'was' if n == 1 else 'were'} not run, "
        "so their tests score 0."
        if n
        else "."
    )
    spent = f"Your notebook used up its time budget ({budget} s for all cells together)"
    return spent + where + after


def memory_cap_reason(limit: int | None) -> str:
    """Why a kernel the memory cap (a cgroup's) ended was stopped; both graders say it.

    >>> memory_cap_reason(2 * 2**30)
    'it used more than 2 GiB of memory (shared memory and in-memory files included)'
    """
    return (
        f"it used more than {format_bytes(limit)} of memory "
        "(shared memory and in-memory files included)"
    )


def stopped_note(nb: NotebookNode, index: int, reason: str) -> str:
    """The grader's note when it stopped the notebook's kernel in cell ``index``.

    >>> nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x")])
    >>> stopped_note(nb, 0, "it crashed")
    'The grader stopped your notebook in cell 1: it crashed. The cells after it were not \
run, so their tests score 0.'
    """
    gid = grade_id_of(nb.cells[index])
    where = f"cell {index + 1}" + (f" (`{gid}`)" if gid else "")
    return (
        f"The grader stopped your notebook in {where}: {reason}. The cells after it were not "
        "run, so their tests score 0."
    )


def _error_output(ename: str, message: str) -> NotebookNode:
    return nbformat.v4.new_output(
        "error", ename=ename, evalue=message, traceback=[f"{ename}: {message}"]
    )


def stop_notebook(nb: NotebookNode, index: int, reason: str) -> None:
    """Mark ``nb`` as cut in cell ``index`` (its kernel was stopped): that cell gets an error
    output saying why, every later code cell one saying it was not run, so their tests
    score 0 (both graders).

    >>> nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in "ab"])
    >>> stop_notebook(nb, 0, "it crashed")
    >>> [cell.outputs[-1].ename for cell in nb.cells]
    ['GradingStopped', 'NotRun']
    """
    nb.cells[index].setdefault("outputs", []).append(
        _error_output(
            STOPPED, f"The grader stopped this cell: {reason}. The cells after it were not run."
        )
    )
    for cell in nb.cells[index + 1 :]:
        if cell.cell_type == "code" and cell.source.strip():
            cell.outputs = [
                _error_output(
                    NOT_RUN,
                    f"Not run: the grader stopped the kernel in cell {index + 1} ({reason}).",
                )
            ]
