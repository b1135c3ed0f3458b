"""Sanitizing that grades every honest notebook on what it did (both graders).

Before a submission runs, nbgrader *sanitizes* it (``Autograde.sanitize_preprocessors``):
one cell per grade id (``DeduplicateIds``), read-only and test cells restored from the
gradebook and deleted test cells added back (``OverwriteCells``), then a metadata check
(``CheckCellMetadata``). In nbgrader 0.9.6 ordinary learner edits make that step fail, and
the whole notebook scores 0 ("There was an error processing assignment"):

* a **copy-pasted** graded cell: ``DeduplicateIds`` leaves the earlier copies with an empty
  ``nbgrader`` dict, and ``OverwriteCells.add_missing_task_cells`` reads its ``grade_id``
  (``KeyError``);
* a **tagged cell the gradebook does not know** (pasted from another lesson or an older
  release): ``OverwriteCells`` deletes only its ``grade_id`` and keeps ``grade``/``solution``,
  which fails the same way, or the metadata check;
* a **deleted test cell** whose previous cell in the lesson is a locked markdown cell (every
  test of lesson 05), or was deleted too (an exercise's answer and test):
  ``add_missing_grade_cells`` looks that neighbour up among grade and solution cells only
  (``KeyError``); its insertion index also drifts when several cells are added.

The kit's replacements, used by ``nbgrader autograde`` through the kit's
``nbgrader_config.py`` and by ``course grade`` (which runs the configured lists):

* :class:`KeepLastCopy` (for ``DeduplicateIds``): the last copy of a cell keeps its grade
  id, the other copies become ordinary cells; every copy runs where it stands;
* :class:`FairOverwriteCells` (for ``OverwriteCells``): a cell the gradebook does not know
  runs as an ordinary cell; a deleted graded cell goes back right after the nearest cell
  that precedes it in the lesson and is still in the notebook (wherever the learner moved
  it); and it says what it did;
* :class:`GraderNotes` (before ``CheckCellMetadata``): what was restored or ignored, as a
  notes cell at the top of the notebook, which the learner reads in the feedback.

Example (``nbgrader_config.py``)::

    from course.grading.steps.fairness import sanitize_preprocessors
    c.Autograde.sanitize_preprocessors = sanitize_preprocessors()
"""

from __future__ import annotations

import contextlib
from collections import Counter
from pathlib import Path
from typing import Any

import nbformat
from nbconvert.exporters.exporter import ResourcesDict
from nbformat import NotebookNode
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.converters import Autograde
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import (
    CheckCellMetadata,
    ClearHiddenTests,
    DeduplicateIds,
    NbGraderPreprocessor,
    OverwriteCells,
)

from course.cells import grade_id_of, has_nbgrader_meta, unmark
from course.grading.notes import is_notes_cell, notes_cell

#: Where the sanitize steps collect their notes for :class:`GraderNotes` (in ``resources``).
NOTES = "course_grade_notes"
#: The notebook metadata key holding the notes :class:`GraderNotes` wrote into the top cell.
NOTES_METADATA = "course_grade_sanitize_notes"

_ROLES = ("grade", "solution", "locked", "task")


def add_note(resources: ResourcesDict, text: str) -> None:
    """Record ``text`` for the learner's notes (written by :class:`GraderNotes`)."""
    resources.setdefault(NOTES, []).append(text)


def listed(ids: list[str]) -> str:
    """``a``, ``b`` as Markdown code, for notes.

    >>> listed(["test_a", "test_b"])
    '`test_a`, `test_b`'
    """
    return ", ".join(f"`{name}`" for name in ids)


# --------------------------------------------------------------------------- copies


class KeepLastCopy(DeduplicateIds):
    """One cell per grade id: the LAST copy of a copy-pasted cell keeps it (nbgrader's
    choice), the other copies lose their nbgrader metadata and run as ordinary cells.

    >>> from course.cells import mark
    >>> cells = [mark(nbformat.v4.new_code_cell("a = 1"), grade_id="ex") for _ in range(2)]
    >>> nb, res = KeepLastCopy().preprocess(nbformat.v4.new_notebook(cells=cells), {})
    >>> [grade_id_of(c) for c in nb.cells], res[NOTES][0][:40]
    ([None, 'ex'], 'Cell `ex` appears 2 times in your notebo')
    """

    def preprocess(
        self, nb: NotebookNode, resources: ResourcesDict
    ) -> tuple[NotebookNode, ResourcesDict]:
        counts = Counter(gid for gid in map(grade_id_of, nb.cells) if gid)
        seen: set[str] = set()
        for cell in reversed(nb.cells):
            gid = grade_id_of(cell)
            if gid is None:
                continue
            if gid in seen:
                unmark(cell)
            seen.add(gid)
        for gid, count in counts.items():
            if count > 1:
                self.log.warning(
                    "Cell with id '%s' exists %d times; the last copy keeps it", gid, count
                )
                add_note(
                    resources,
                    f"Cell `{gid}` appears {count} times in your notebook. Every copy ran where it "
                    f"stands; the last one counts as `{gid}`, the others as ordinary cells.",
                )
        return nb, resources


# ---------------------------------------------------------------------- overwriting


class FairOverwriteCells(OverwriteCells):
    """nbgrader's ``OverwriteCells`` (read-only cells restored, deleted graded cells added
    back with ``add_missing_cells``), which never fails on an odd cell and notes what it did:

    * a cell with a grade id the gradebook does not know, or nbgrader metadata without an
      id, loses that metadata and runs as an ordinary cell;
    * a deleted graded cell goes back right after the nearest cell that precedes it in the
      lesson (any cell with a grade id, locked markdown included) and is still there;
    * read-only cells the learner edited, graded cells added back (or scoring 0 without
      ``add_missing_cells``), deleted answer cells and cells in another order are noted.
    """

    def preprocess(
        self, nb: NotebookNode, resources: ResourcesDict
    ) -> tuple[NotebookNode, ResourcesDict]:
        self.notebook_id = resources["nbgrader"]["notebook"]
        self.assignment_id = resources["nbgrader"]["assignment"]
        self.db_url = resources["nbgrader"]["db_url"]
        self.gradebook = Gradebook(self.db_url)
        self._edited: list[str] = []
        with self.gradebook:
            source_nb = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
            order = self._lesson_order(source_nb)
            nb, resources = NbGraderPreprocessor.preprocess(
                self, nb, resources
            )  # preprocess_cell on each cell
            if self._edited:
                add_note(
                    resources,
                    f"You edited read-only cell(s) {listed(self._edited)}; the original was put "
                    "back before grading.",
                )
            present = [gid for gid in map(grade_id_of, nb.cells) if gid]
            in_lesson = [gid for gid in order if gid in present]
            if [gid for gid in present if gid in order] != in_lesson:
                add_note(
                    resources,
                    "Some of your cells are in another order than in the lesson; they ran in your "
                    "order, top to bottom.",
                )
            graded = [c.name for c in source_nb.grade_cells]
            missing = [gid for gid in order if gid in graded and gid not in present]
            missing += [gid for gid in graded if gid not in order and gid not in present]
            if self.add_missing_cells:
                nb = self._add_missing_grade_cells(nb, source_nb, order, missing)
                nb, resources = self.add_missing_task_cells(nb, resources)
                if missing:
                    add_note(
                        resources,
                        f"Graded cell(s) {listed(missing)} were missing from your notebook; the "
                        "grader added them back and ran them.",
                    )
            elif missing:
                add_note(
                    resources,
                    f"Graded cell(s) {listed(missing)} were missing from your notebook, so they "
                    "score 0.",
                )
            answers = [
                c.name
                for c in source_nb.solution_cells
                if c.name not in graded and c.name not in present
            ]
            if answers:
                add_note(
                    resources,
                    f"Answer cell(s) {listed(answers)} were missing from your notebook; the tests "
                    "ran without them.",
                )
        return nb, resources

    def preprocess_cell(
        self, cell: NotebookNode, resources: ResourcesDict, cell_index: int
    ) -> tuple[NotebookNode, ResourcesDict]:
        if not has_nbgrader_meta(cell):
            return cell, resources
        gid = grade_id_of(cell)
        if not gid:
            meta = unmark(cell)
            if any(meta.get(role) for role in _ROLES):
                add_note(
                    resources,
                    f"Cell {cell_index + 1} has grading marks without a grade id; it ran as an "
                    "ordinary cell.",
                )
            return cell, resources
        try:
            source_cell = self.gradebook.find_source_cell(gid, self.notebook_id, self.assignment_id)
        except MissingEntry:
            self.log.warning(
                "Cell '%s' does not exist in the database; it runs as an ordinary cell", gid
            )
            unmark(cell)
            add_note(
                resources,
                f"Cell {cell_index + 1} is marked as `{gid}`, a cell this lesson does not have "
                "(pasted from another notebook?); it ran as an ordinary cell and is not graded.",
            )
            return cell, resources
        if source_cell.locked:
            released = self._released_source(source_cell.source)
            if _normalized(cell.source) not in (
                _normalized(source_cell.source),
                _normalized(released),
            ):
                self._edited.append(gid)
            elif cell.source != source_cell.source:
                # The learner's copy lacks the hidden tests by design: put them back quietly,
                # so nbgrader logs "checksum has changed" only for a cell really edited.
                cell.source = source_cell.source
        return super().preprocess_cell(cell, resources, cell_index)

    def _released_source(self, original: str) -> str:
        """A locked cell's source as the learner received it: the original without its
        hidden tests (the original itself when its markers are unbalanced)."""
        learner = nbformat.v4.new_code_cell(original)
        with contextlib.suppress(RuntimeError):
            ClearHiddenTests(config=self.config)._remove_hidden_test_region(learner)
        return learner.source

    def _lesson_order(self, source_nb: Any) -> list[str]:
        """The grade ids of the lesson in notebook order: from the source notebook when the
        course has it, then any other cell the gradebook knows (in the gradebook's order)."""
        order: list[str] = []
        with contextlib.suppress(
            Exception
        ):  # no source folder (e.g. a grader's copy): gradebook order
            coursedir = CourseDirectory(config=self.config)
            folder = Path(
                coursedir.format_path(coursedir.source_directory, ".", self.assignment_id)
            )
            source = nbformat.read(folder / f"{self.notebook_id}.ipynb", as_version=4)
            order = [gid for gid in map(grade_id_of, source.cells) if gid]
        known = [c.name for c in source_nb.source_cells]
        return [gid for gid in order if gid in known] + [gid for gid in known if gid not in order]

    def _add_missing_grade_cells(
        self, nb: NotebookNode, source_nb: Any, order: list[str], missing: list[str]
    ) -> NotebookNode:
        """Put each missing graded cell right after the nearest cell before it in the lesson
        that the notebook still has (or re-gained); at the top when there is none."""
        source = {c.name: c for c in source_nb.source_cells}
        graded = {c.name: c for c in source_nb.grade_cells}
        solutions = {c.name for c in source_nb.solution_cells}
        present = {gid: cell for cell in nb.cells if (gid := grade_id_of(cell))}
        for gid in missing:
            self.log.warning("Missing grade cell %s encountered, adding to notebook", gid)
            new = self.missing_cell_transform(
                source[gid], graded[gid].max_score, is_solution=gid in solutions
            )
            before = order[: order.index(gid)] if gid in order else order
            anchor = next((present[g] for g in reversed(before) if g in present), None)
            at = 0 if anchor is None else next(i for i, c in enumerate(nb.cells) if c is anchor) + 1
            nb.cells.insert(at, new)
            present[gid] = new
        return nb

    def add_missing_grade_cells(
        self, nb: NotebookNode, resources: ResourcesDict
    ) -> tuple[NotebookNode, ResourcesDict]:
        """nbgrader's entry point, kept for callers of the upstream API."""
        source_nb = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        order = self._lesson_order(source_nb)
        present = set(filter(None, map(grade_id_of, nb.cells)))
        missing = [c.name for c in source_nb.grade_cells if c.name not in present]
        return self._add_missing_grade_cells(nb, source_nb, order, missing), resources


# --------------------------------------------------------------------------- notes


class GraderNotes(NbGraderPreprocessor):
    """What the sanitize steps restored or ignored, as a notes cell at the top of the
    notebook (nothing when there is nothing to say). The notes also go into the notebook's
    metadata (``NOTES_METADATA``), which ``course grade`` reads to merge them with its own."""

    def preprocess(
        self, nb: NotebookNode, resources: ResourcesDict
    ) -> tuple[NotebookNode, ResourcesDict]:
        nb.metadata.pop(NOTES_METADATA, None)  # only this step writes it
        notes = resources.pop(NOTES, [])
        if notes:
            nb.cells.insert(0, notes_cell(notes))
            nb.metadata[NOTES_METADATA] = list(notes)
        return nb, resources


def holds_sanitize_notes(nb: NotebookNode) -> bool:
    """Whether the first cell of ``nb`` is the notes cell :class:`GraderNotes` wrote during
    sanitizing (the notebook's metadata, which only that step writes, holds the same notes),
    not a learner's cell made to look like one."""
    notes = nb.metadata.get(NOTES_METADATA)
    if not notes or not nb.cells:
        return False
    return is_notes_cell(nb.cells[0]) and nb.cells[0].source == notes_cell(notes).source


def take_notes(nb: NotebookNode) -> list[str]:
    """Remove the notes cell :class:`GraderNotes` put at the top of ``nb`` and return its
    notes (``course grade`` writes them again with its own, after execution)."""
    notes = nb.metadata.pop(NOTES_METADATA, None)
    if not notes:
        return []
    if nb.cells and is_notes_cell(nb.cells[0]):
        nb.cells.pop(0)
    return [str(note) for note in notes]


def sanitize_preprocessors() -> list[type]:
    """nbgrader's sanitize list with the kit's fair steps: the value for
    ``c.Autograde.sanitize_preprocessors``.

    >>> [p.__name__ for p in sanitize_preprocessors()]  # doctest: +NORMALIZE_WHITESPACE
    ['ClearOutput', 'KeepLastCopy', 'OverwriteKernelspec', 'FairOverwriteCells', 'GraderNotes',
     'CheckCellMetadata']
    """
    replacements = {DeduplicateIds: KeepLastCopy, OverwriteCells: FairOverwriteCells}
    result: list[type] = []
    for step in Autograde.class_traits()["sanitize_preprocessors"].default():
        if step is CheckCellMetadata:
            result.append(GraderNotes)
        result.append(replacements.get(step, step))
    return result


def _normalized(source: str) -> str:
    return "\n".join(line.rstrip() for line in source.strip().splitlines())
