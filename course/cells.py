"""nbgrader's cell metadata, read and written in one place.

nbgrader marks the cells it cares about in ``cell.metadata["nbgrader"]``: ``grade_id``
(the cell's name in the gradebook), ``grade`` (it is scored), ``solution`` (the learner
writes it), ``locked`` (read-only), ``task``, ``points``, ``checksum``, ... Every module of
the kit reads those fields through the functions here, never by hand.

Example::

    >>> from nbformat.v4 import new_code_cell, new_notebook
    >>> answer = mark(new_code_cell("x = 1"), grade_id="ex1", solution=True)
    >>> test = mark(new_code_cell("assert x"), grade_id="test_ex1", grade=True, points=2)
    >>> nb = new_notebook(cells=[answer, test])
    >>> grade_id_of(test), is_test(test), is_solution(answer), graded_points(nb)
    ('test_ex1', True, True, {'test_ex1': 2.0})
    >>> exercises(nb)
    {'ex1': ['test_ex1']}
"""

from __future__ import annotations

from typing import Any

from nbformat import NotebookNode

#: The key of nbgrader's part of a cell's metadata.
NBGRADER = "nbgrader"


def nbgrader_meta(cell: NotebookNode) -> dict[str, Any]:
    """The cell's nbgrader metadata (an empty dict when it has none). Read only: write with
    :func:`mark` and :func:`unmark`."""
    return cell.get("metadata", {}).get(NBGRADER) or {}


def has_nbgrader_meta(cell: NotebookNode) -> bool:
    """Whether the cell carries nbgrader metadata at all (even an empty dict; not null).

    >>> from nbformat.v4 import new_code_cell
    >>> empty = new_code_cell(metadata={"nbgrader": {}})
    >>> has_nbgrader_meta(empty), has_nbgrader_meta(new_code_cell())
    (True, False)
    """
    return cell.get("metadata", {}).get(NBGRADER) is not None


def grade_id_of(cell: NotebookNode) -> str | None:
    """The cell's nbgrader ``grade_id``, or None (also for an empty one)."""
    return nbgrader_meta(cell).get("grade_id") or None


def is_solution(cell: NotebookNode) -> bool:
    """A cell the learner writes (``solution``)."""
    return bool(nbgrader_meta(cell).get("solution"))


def is_graded(cell: NotebookNode) -> bool:
    """A cell that is scored (``grade``): a test cell, or an answer graded by hand."""
    return bool(nbgrader_meta(cell).get("grade"))


def is_test(cell: NotebookNode) -> bool:
    """An autograded test cell: scored and not written by the learner."""
    return is_graded(cell) and not is_solution(cell)


def is_locked(cell: NotebookNode) -> bool:
    """A read-only cell (``locked``)."""
    return bool(nbgrader_meta(cell).get("locked"))


def points(cell: NotebookNode) -> float:
    """The points a graded cell is worth (0 when it names none)."""
    return float(nbgrader_meta(cell).get("points", 0))


def mark(cell: NotebookNode, **fields: Any) -> NotebookNode:
    """Set nbgrader fields on ``cell`` (adding its nbgrader metadata if needed); returns it.

    >>> from nbformat.v4 import new_code_cell
    >>> mark(new_code_cell(), grade_id="a", locked=True).metadata.nbgrader
    {'grade_id': 'a', 'locked': True}
    """
    cell.setdefault("metadata", {}).setdefault(NBGRADER, {}).update(fields)
    return cell


def unmark(cell: NotebookNode) -> dict[str, Any] | None:
    """Remove the cell's nbgrader metadata (it becomes an ordinary cell); returns what it was.

    >>> from nbformat.v4 import new_code_cell
    >>> cell = mark(new_code_cell(), grade_id="a")
    >>> unmark(cell), has_nbgrader_meta(cell)
    ({'grade_id': 'a'}, False)
    """
    return cell.get("metadata", {}).pop(NBGRADER, None)


def cells_by_id(nb: NotebookNode) -> dict[str, NotebookNode]:
    """grade_id -> cell, for every cell with a grade_id (the last one wins for copies)."""
    return {gid: cell for cell in nb.cells if (gid := grade_id_of(cell))}


def cell_by_id(nb: NotebookNode, wanted: str) -> NotebookNode:
    """The cell with grade_id ``wanted`` (KeyError listing the known ids if absent)."""
    cells = cells_by_id(nb)
    if wanted not in cells:
        raise KeyError(f"no cell with grade_id {wanted!r}; known: {', '.join(cells)}")
    return cells[wanted]


def graded_points(nb: NotebookNode) -> dict[str, float]:
    """grade_id -> points of every autograded test cell (grade=true, solution=false)."""
    return {gid: points(cell) for gid, cell in cells_by_id(nb).items() if is_test(cell)}


def exercises(nb: NotebookNode) -> dict[str, list[str]]:
    """Solution grade_id -> the graded cells that follow it (up to the next solution)."""
    result: dict[str, list[str]] = {}
    current = None
    for cell in nb.cells:
        if is_solution(cell):
            current = grade_id_of(cell)
            result[current] = []
        elif is_graded(cell) and current is not None:
            result[current].append(grade_id_of(cell))
    return result
