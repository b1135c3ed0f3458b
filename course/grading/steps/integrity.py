"""nbgrader preprocessors that keep a learner's notebook from changing how it is graded.

They run in the GRADER's process, where learner code cannot reach them, around nbgrader's
``Execute`` (the kit's ``autograde_preprocessors()`` puts them in both graders' lists):

* :class:`GuardSubmission`, before execution: removes files next to the notebook that
  would replace a module the notebook or the grader imports (``helpers/``, ``keras.py``,
  compiled ``.pyc``/``.so`` files), reads every code cell the learner could edit (and
  their ``.py`` files) with :func:`course.grading.steps.code_scan.scan_code` (linear, within a CPU
  budget per cell and per notebook, :class:`NotebookScan`; a cell it cannot read is flagged;
  ``course grade`` scans ahead on a worker thread, :func:`prescan_submission`, so the shared
  gradebook thread never waits on it), and strips the grader-notes marker from learner
  cells, so notes cannot be forged;
* the kit's ``Execute`` adds, while the notebook runs, what the run-time guard found
  (:mod:`course.grading.steps.runtime_guard`: findings of kind ``runtime``, for the test cell it
  was found before and the ones after);
* :class:`JudgeIntegrity`, right after execution: removes from the autograded test cells
  the outputs the kit's tests never produce (``execute_result``, ``display_data``: how a
  hook hands nbgrader a score) and flags those showing ``helpers.grading.pristine``'s
  "GRADING MACHINERY CHANGED" message, lists the test cells that ran after a flagged cell, and
  writes the grader's note at the top of the notebook;
* :class:`IntegritySaveAutoGrades`, nbgrader's ``SaveAutoGrades`` that records those test
  cells as 0 points and *needs manual grade* (formgrader lists them), and never fails on an
  odd output (a partial-credit number above the cell's points crashes nbgrader's own).

What a learner's outputs may hold is capped by :mod:`course.grading.steps.output_limits`.

The rule for a flagged notebook: every autograded test cell that runs after a flagged cell
(or any test cell, for a flagged file) scores 0 and needs manual grading; the note names
the cell and what it did. The teacher reads it and gives the points by hand if the use was
harmless. Test cells before the flagged cell are graded as usual.

Example (nbgrader_config.py; :func:`.restarting_execute.autograde_preprocessors` does it)::

    c.Autograde.autograde_preprocessors = [GuardSubmission, RestartingExecute, JudgeIntegrity, ...]
"""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from nbformat import NotebookNode
from nbgrader import utils
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.preprocessors import NbGraderPreprocessor, SaveAutoGrades

from course.cells import grade_id_of, is_test
from course.grading.notes import NOTES_TITLE, is_notes_cell, notes_cell
from course.grading.steps.code_scan import SCAN_BUDGET, UNREADABLE, describe, scan_code
from course.grading.steps.fairness import holds_sanitize_notes

#: Key of the guard's findings in the notebook's metadata (between the two stages).
FINDINGS_KEY = "course_integrity"
#: Key of the flagged test cells in nbconvert's resources (JudgeIntegrity -> SaveAutoGrades).
MANUAL_KEY = "course_integrity_manual"
#: What :func:`helpers.grading.pristine` prints when it finds the kernel tampered with.
TAMPER_MARKER = "GRADING MACHINERY CHANGED"
_COMPILED = (".pyc", ".pyo", ".so", ".pyd")
_FORGED_LABEL = "> *A cell of the learner's, made to look like the grader's notes.*\n\n"


# ---------------------------------------------------------------------------- before


class GuardSubmission(NbGraderPreprocessor):
    """Before execution: remove shadowing files, read the learner's code, unmark forged notes."""

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        folder = Path(resources.get("metadata", {}).get("path") or ".")
        findings: list[dict[str, Any]] = []
        genuine = 0 if holds_sanitize_notes(nb) else None  # the kit's sanitize steps' own note
        for index, cell in enumerate(nb.cells):
            if index != genuine and cell.cell_type == "markdown" and _looks_like_notes(cell):
                cell.get("metadata", {}).pop("course_grade", None)
                cell.source = _FORGED_LABEL + cell.source
                findings.append(
                    {
                        "cell": index,
                        "kind": "forged",
                        "what": "is made to look like the grader's notes",
                    }
                )
        instructor = _instructor_sources(resources)
        scans = NotebookScan()
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            gid = grade_id_of(cell)
            if gid in instructor and _is_instructor_code(cell.source, instructor[gid]):
                continue  # the instructor's own code (restored or added back by OverwriteCells)
            found = scans.scan(cell.source)
            if found:
                findings.append(
                    {"cell": index, "grade_id": gid, "kind": "code", "what": describe(found)}
                )
        removed, file_findings = guard_folder(folder)
        findings += file_findings
        nb.metadata[FINDINGS_KEY] = {
            "cells": len(nb.cells),
            "findings": findings,
            "removed": removed,
        }
        return nb, resources


#: CPU seconds the scan of all cells of one notebook may take together; the cells after
#: that are reported unreadable (flagged) without being read.
NOTEBOOK_SCAN_BUDGET = 30.0
#: Scans already done, by the SHA-256 of the code (see :func:`prescan_notebooks`).
_SCANNED: dict[str, list[str]] = {}
_SCANNED_MAX = 4096


class NotebookScan:
    """The scans of one notebook's cells, within :data:`NOTEBOOK_SCAN_BUDGET` CPU seconds
    together (a scan already made by :func:`prescan_notebooks` costs nothing).

    >>> NotebookScan().scan("import ctypes")
    ["imports `ctypes` (writes into the process's memory)"]
    """

    def __init__(self, budget: float = NOTEBOOK_SCAN_BUDGET) -> None:
        self.left = budget

    def scan(self, source: str) -> list[str]:
        key = hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()
        if key in _SCANNED:
            return list(_SCANNED[key])
        if self.left <= 0:
            return [UNREADABLE.format(why="the notebook's scan used up its time")]
        started = time.thread_time()
        found = scan_code(source, min(SCAN_BUDGET, self.left))
        self.left -= time.thread_time() - started
        if len(_SCANNED) >= _SCANNED_MAX:
            _SCANNED.clear()
        _SCANNED[key] = list(found)
        return found


def prescan_notebooks(folder: Path | str) -> int:
    """Scan the code cells of the notebooks in ``folder`` ahead of grading, so that
    :class:`GuardSubmission` finds the scans made (``course grade`` calls this on a worker
    thread, outside the gradebook's thread). Returns the number of cells scanned; a file
    that is not a notebook is skipped (grading reports it).

    >>> prescan_notebooks("/nonexistent")
    0
    """
    import nbformat

    count = 0
    scans = NotebookScan()
    for path in sorted(Path(folder).glob("*.ipynb")):
        try:
            nb = nbformat.read(path, as_version=4)
        except Exception:  # noqa: BLE001 - not a notebook: grading says so
            continue
        for cell in nb.get("cells", []):
            if cell.get("cell_type") == "code" and isinstance(cell.get("source"), str):
                scans.scan(cell.source)
                count += 1
    return count


def prescan_submission(autograder: Any, job: Any) -> int:
    """:func:`prescan_notebooks` on the submitted folder of a ``course grade`` job."""
    folder = autograder.converter._format_source(job.assignment, job.student)
    return prescan_notebooks(folder)


def _looks_like_notes(cell: NotebookNode) -> bool:
    if is_notes_cell(cell):
        return True
    text = cell.source.lstrip()
    return text.startswith(f"**{NOTES_TITLE}**") or text.startswith("**Not graded")


def _is_instructor_code(source: str, instructor: str) -> bool:
    """``source`` is the instructor's, maybe after comment lines (nbgrader's "This cell was
    missing from the submission. It was added back" header).

    >>> _is_instructor_code("# added back\\n\\nx = 1", "x = 1")
    True
    >>> _is_instructor_code("y()\\nx = 1", "x = 1")
    False
    """
    if not source.endswith(instructor):
        return False
    prefix = source[: len(source) - len(instructor)]
    return all(not line.strip() or line.lstrip().startswith("#") for line in prefix.splitlines())


def _instructor_sources(resources: dict) -> dict[str, str]:
    """grade_id -> source of the instructor's cells of this notebook (from the gradebook)."""
    info = resources.get("nbgrader", {})
    try:
        with Gradebook(info["db_url"]) as gb:
            notebook = gb.find_notebook(info["notebook"], info["assignment"])
            return {cell.name: cell.source for cell in notebook.source_cells}
    except (KeyError, MissingEntry, Exception):  # noqa: BLE001 - no gradebook: scan everything
        return {}


def guard_folder(folder: Path) -> tuple[list[str], list[dict[str, Any]]]:
    """Remove from ``folder`` what would replace a module Python imports, and read the
    learner's other ``.py`` files. Returns (removed names, findings).

    Removed: a top-level ``X.py`` or package ``X/`` when ``X`` is a module this Python
    can import anyway (``helpers``, ``keras``, ``numpy``, the standard library), and every
    compiled module (``.pyc``, ``.so``, ``__pycache__``) anywhere: the grader cannot read it.
    """
    removed: list[str] = []
    findings: list[dict[str, Any]] = []
    if not folder.is_dir():
        return removed, findings
    for path in sorted(folder.rglob("*")):
        if not path.exists() and not path.is_symlink():
            continue  # inside a folder removed already
        name = path.relative_to(folder).as_posix()
        if path.name == "__pycache__" or (path.is_file() and path.name.endswith(_COMPILED)):
            _remove(path)
            removed.append(name)
            continue
        if path.parent == folder and _shadows(path):
            is_dir = path.is_dir() and not path.is_symlink()
            _remove(path)
            removed.append(name + ("/" if is_dir else ""))
    for path in sorted(folder.rglob("*.py")):
        try:
            found = NotebookScan().scan(path.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            continue
        if found:
            findings.append(
                {
                    "cell": None,
                    "file": path.relative_to(folder).as_posix(),
                    "kind": "file",
                    "what": describe(found),
                }
            )
    return removed, findings


def _module_name(path: Path) -> str | None:
    if path.is_dir() and not path.is_symlink():
        return path.name if (path / "__init__.py").exists() else None
    for suffix in (".py", ".pyw"):
        if path.name.endswith(suffix):
            return path.name[: -len(suffix)]
    return None


def _shadows(path: Path) -> bool:
    name = _module_name(path)
    if not name or not name.isidentifier():
        return False
    if name in sys.builtin_module_names or name in sys.stdlib_module_names or name in sys.modules:
        return True
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


# ----------------------------------------------------------------------------- after


class JudgeIntegrity(NbGraderPreprocessor):
    """After execution: drop outputs the kit's tests never produce, decide which test cells
    need manual grading, and write the note."""

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        data = nb.metadata.pop(FINDINGS_KEY, None) or {}
        findings = list(data.get("findings", []))
        removed = list(data.get("removed", []))
        offset = max(
            0, len(nb.cells) - int(data.get("cells", len(nb.cells)))
        )  # a notes cell put on top
        tests = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code" and is_test(c)]
        for index, cell in tests:
            odd = [o for o in cell.get("outputs", []) if _unexpected(o)]
            if odd:
                kinds = sorted({o.output_type for o in odd})
                # A score handed to nbgrader goes; pristine()'s own message stays for the learner.
                cell.outputs = [
                    o for o in cell.outputs if not _unexpected(o) or o.output_type == "stream"
                ]
                findings.append(
                    {
                        "cell": index - offset,
                        "kind": "output",
                        "grade_id": grade_id_of(cell),
                        "what": "showed output the kit's tests never produce ("
                        + ", ".join(kinds)
                        + "): code that ran earlier changed how cells run",
                    }
                )
        manual: dict[str, list[str]] = {}
        for finding in findings:
            if finding["kind"] == "forged":
                continue
            start = -1 if finding.get("cell") is None else finding["cell"] + offset
            for index, cell in tests:
                if finding["kind"] == "output":
                    hit = index == start
                elif finding["kind"] == "runtime":  # found right before that test ran
                    hit = index >= start
                else:
                    hit = index > start
                if hit:
                    manual.setdefault(grade_id_of(cell), []).append(_where(finding))
        resources[MANUAL_KEY] = manual
        notes = integrity_notes(findings, removed, manual)
        if notes:
            if nb.cells and is_notes_cell(nb.cells[0]):
                nb.cells[0].source += "\n" + "\n".join(f"- {note}" for note in notes)
            else:
                nb.cells.insert(0, notes_cell(notes))
        return nb, resources


def _unexpected(output: NotebookNode) -> bool:
    if output.get("output_type") in ("execute_result", "display_data", "update_display_data"):
        return True
    return output.get("output_type") == "stream" and TAMPER_MARKER in output.get("text", "")


def _where(finding: dict[str, Any]) -> str:
    if finding["kind"] == "file":
        return f"your file `{finding['file']}`"
    gid = finding.get("grade_id")
    return f"cell {finding['cell'] + 1}" + (f" (`{gid}`)" if gid else "")


def integrity_notes(
    findings: list[dict[str, Any]], removed: list[str], manual: dict[str, list[str]]
) -> list[str]:
    """The note's lines: what each flagged cell or file did, what was removed, which tests
    wait for the teacher.

    >>> finding = {"cell": 4, "grade_id": "ex1", "kind": "code", "what": "uses `.events`"}
    >>> notes = integrity_notes([finding], [], {"test_ex1": ["cell 5 (`ex1`)"]})
    >>> notes[0]
    'Cell 5 (`ex1`) changes how grading runs: uses `.events`.'
    >>> notes[1].split(" until ")[0]
    'Test cell(s) `test_ex1` score 0'
    """
    notes = []
    for finding in findings:
        where = _where(finding)
        where = where[0].upper() + where[1:]
        if finding["kind"] == "forged":
            notes.append(f"{where} {finding['what']}; it was marked as yours.")
        elif finding["kind"] == "output":
            notes.append(f"{where} {finding['what']}.")
        elif finding["kind"] == "runtime":
            notes.append(
                f"Before test {where[0].lower() + where[1:]} ran, the grader found what the checks "
                f"rely on changed by the code above it: {finding['what']}."
            )
        else:
            notes.append(f"{where} changes how grading runs: {finding['what']}.")
    if removed:
        notes.append(
            "Files that would replace modules the grader uses were removed before grading: "
            + ", ".join(f"`{name}`" for name in removed)
            + "."
        )
    if manual:
        notes.append(
            "Test cell(s) "
            + ", ".join(f"`{gid}`" for gid in manual)
            + " score 0 until your teacher grades them by hand (they ran after the code above)."
        )
    return notes


class IntegritySaveAutoGrades(SaveAutoGrades):
    """nbgrader's SaveAutoGrades: flagged test cells score 0 and need manual grading, and an
    output nbgrader cannot turn into a score never stops the grader."""

    def _add_score(self, cell: NotebookNode, resources: dict) -> None:
        gid = grade_id_of(cell)
        flagged = gid in resources.get(MANUAL_KEY, {})
        if not flagged:
            try:
                utils.determine_grade(cell, self.log)
            except Exception as error:  # noqa: BLE001 - e.g. partial credit above the cell's points
                self.log.warning(
                    "Cell %s: its output cannot be scored (%s); it needs manual grading.",
                    gid,
                    error,
                )
                flagged = True
        if not flagged:
            super()._add_score(cell, resources)
            return
        grade = self.gradebook.find_grade(
            gid, self.notebook_id, self.assignment_id, self.student_id
        )
        grade.auto_score = 0
        grade.needs_manual_grade = True
        self.gradebook.db.commit()


__all__ = [
    "FINDINGS_KEY",
    "NotebookScan",
    "prescan_notebooks",
    "prescan_submission",
    "GuardSubmission",
    "IntegritySaveAutoGrades",
    "JudgeIntegrity",
    "TAMPER_MARKER",
    "guard_folder",
    "integrity_notes",
]
