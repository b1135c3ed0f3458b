"""The grader's notes: a markdown cell at the top of an autograded notebook.

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

import nbformat
from nbformat import NotebookNode

NOTES_TITLE = "Notes from the grader"


def notes_cell(notes: Sequence[str], title: str = NOTES_TITLE) -> NotebookNode:
    """A markdown cell listing ``notes``, put at the top of the autograded notebook and
    marked as the grader's (:func:`is_notes_cell`)."""
    text = f"**{title}**\n\n" + "\n".join(f"- {note}" for note in notes)
    return nbformat.v4.new_markdown_cell(text, metadata={"course_grade": "notes"})


def is_notes_cell(cell: NotebookNode) -> bool:
    """Whether ``cell`` carries the grader's notes marker (:func:`notes_cell`).

    >>> is_notes_cell(notes_cell(["Cell 3 ran out of memory"])), is_notes_cell(nbformat.v4.new_markdown_cell("hi"))
    (True, False)
    """
    return cell.get("metadata", {}).get("course_grade") == "notes"
