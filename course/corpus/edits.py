"""Transforms: the edits a learner makes to a notebook (a :class:`~.submission.Submission`'s
``transform``), each a function of the notebook.

Example::

    Submission("copied", base="solution", transform=duplicate_cell("build_siamese"), ...)
"""

from __future__ import annotations

import copy

import nbformat
from nbformat import NotebookNode

from course import cells
from course.cells import cell_by_id, mark
from course.corpus.submission import Transform


def edit_cell(grade_id: str, source: str) -> Transform:
    """A transform that replaces the source of cell ``grade_id`` (e.g. a locked test cell).

    >>> from course.corpus.submission import Submission, no_marks
    >>> Submission("edits_test", transform=edit_cell("test_a", "pass"), expected=no_marks()).name
    'edits_test'
    """

    def transform(nb: NotebookNode) -> None:
        cell_by_id(nb, grade_id).source = source

    return transform


def delete_cell(grade_id: str) -> Transform:
    """A transform that removes cell ``grade_id`` (a learner who deletes a test or an answer).

    >>> from course.corpus.submission import Submission, no_marks
    >>> Submission("deletes_test", transform=delete_cell("test_a"), expected=no_marks()).name
    'deletes_test'
    """

    def transform(nb: NotebookNode) -> None:
        cell_by_id(nb, grade_id)  # KeyError for a grade_id the lesson does not have
        nb.cells = [c for c in nb.cells if cells.grade_id_of(c) != grade_id]

    return transform


def delete_cells(*grade_ids: str) -> Transform:
    """A transform that removes several cells (a learner who deletes a whole exercise).

    >>> from course.corpus.submission import Submission, no_marks
    >>> deletes = delete_cells("ex_a", "test_a")
    >>> Submission("deletes_exercise", transform=deletes, expected=no_marks()).name
    'deletes_exercise'
    """
    steps = [delete_cell(gid) for gid in grade_ids]

    def transform(nb: NotebookNode) -> None:
        for step in steps:
            step(nb)

    return transform


def duplicate_cell(grade_id: str) -> Transform:
    """A transform that pastes a copy of cell ``grade_id`` right below it (same metadata,
    same grade id: what copy and paste in Jupyter does).

    >>> from course.cells import mark
    >>> cell = mark(nbformat.v4.new_code_cell("x = 1"), grade_id="a")
    >>> nb = nbformat.v4.new_notebook(cells=[cell])
    >>> duplicate_cell("a")(nb); [c.source for c in nb.cells]
    ['x = 1', 'x = 1']
    """

    def transform(nb: NotebookNode) -> None:
        original = cell_by_id(nb, grade_id)
        index = next(i for i, c in enumerate(nb.cells) if c is original)
        nb.cells.insert(index + 1, copy.deepcopy(original))

    return transform


def move_cells(first: str, last: str) -> Transform:
    """A transform that moves the cells from ``first`` to ``last`` (grade ids, both
    included, with the ordinary cells between them) to the end of the notebook.

    >>> ids = ["a", "b", "c"]
    >>> from course.cells import mark
    >>> cells = [mark(nbformat.v4.new_code_cell(i), grade_id=i) for i in ids]
    >>> nb = nbformat.v4.new_notebook(cells=cells)
    >>> move_cells("a", "b")(nb); [c.source for c in nb.cells]
    ['c', 'a', 'b']
    """

    def transform(nb: NotebookNode) -> None:
        start = nb.cells.index(cell_by_id(nb, first))
        end = nb.cells.index(cell_by_id(nb, last))
        if end < start:
            raise ValueError(f"cell {last!r} comes before {first!r}")
        nb.cells = nb.cells[:start] + nb.cells[end + 1 :] + nb.cells[start : end + 1]

    return transform


def add_foreign_cell(after: str, grade_id: str, source: str, points: float = 1) -> Transform:
    """A transform that pastes, below cell ``after``, a graded test cell ``grade_id`` the
    lesson does not have (copied from another lesson or an older release).

    >>> from course.corpus.submission import Submission, no_marks
    >>> pastes = add_foreign_cell("ex_a", "test_other", "assert True")
    >>> Submission("pastes", transform=pastes, expected=no_marks()).name
    'pastes'
    """

    def transform(nb: NotebookNode) -> None:
        index = nb.cells.index(cell_by_id(nb, after))
        pasted = nbformat.v4.new_code_cell(source, metadata={"deletable": False, "editable": False})
        mark(
            pasted,
            grade=True,
            grade_id=grade_id,
            locked=True,
            points=points,
            schema_version=3,
            solution=False,
            task=False,
        )
        nb.cells.insert(index + 1, pasted)

    return transform
