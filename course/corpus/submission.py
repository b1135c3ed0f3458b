"""A learner's submission described relative to a lesson, its expected marks, and writing it.

Example::

    case = Submission("correct", expected=full_marks())
    write_submission(case, learner_nb, instructor_nb, Path("/tmp/correct.ipynb"))
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import Literal

import nbformat
from nbformat import NotebookNode

from course.cells import cells_by_id, is_solution

#: A transform edits the notebook in place (returns None), returns a new notebook, or
#: returns raw file content (bytes/str) to write as is.
Transform = Callable[[NotebookNode], "NotebookNode | bytes | str | None"]


CORPUS_DIR = Path("tests") / "corpus"
_STUDENT_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_SOLUTION_MARKER = re.compile(r"^\s*#+\s*(BEGIN|END) SOLUTION\s*$")


def solution_sources(nb: NotebookNode) -> dict[str, str]:
    """grade_id -> code of every solution cell, ``BEGIN/END SOLUTION`` lines removed.

    Applied to the instructor notebook this is what a learner who solved everything types.
    """
    return {
        grade_id: "\n".join(
            line for line in c.source.splitlines() if not _SOLUTION_MARKER.match(line)
        )
        for grade_id, c in cells_by_id(nb).items()
        if is_solution(c)
    }


@dataclass(frozen=True)
class Marks:
    """Expected points relative to a full (``start="full"``) or empty score.

    Resolved against a lesson's test cells by :meth:`resolve`, so corpus files name only
    the cells that differ.
    """

    start: Literal["full", "none"]
    except_: Mapping[str, float] = field(default_factory=dict)

    def resolve(self, points: Mapping[str, float]) -> dict[str, float]:
        """grade_id -> expected points, given grade_id -> maximum points."""
        unknown = sorted(set(self.except_) - set(points))
        if unknown:
            raise KeyError(
                f"not autograded test cells: {', '.join(unknown)}; known: {', '.join(points)}"
            )
        for grade_id, value in self.except_.items():
            if not 0 <= value <= points[grade_id]:
                raise ValueError(f"{grade_id}: {value} points outside 0..{points[grade_id]}")
        base = {gid: (float(p) if self.start == "full" else 0.0) for gid, p in points.items()}
        return base | {gid: float(v) for gid, v in self.except_.items()}


def full_marks(except_: Mapping[str, float] | None = None) -> Marks:
    """Every test cell at its maximum, except the ones given (grade_id -> points).

    >>> full_marks(except_={"test_b": 0}).resolve({"test_a": 1, "test_b": 2})
    {'test_a': 1.0, 'test_b': 0.0}
    """
    return Marks("full", dict(except_ or {}))


def no_marks(except_: Mapping[str, float] | None = None) -> Marks:
    """Every test cell at 0, except the ones given (grade_id -> points).

    >>> no_marks(except_={"test_a": 1}).resolve({"test_a": 1, "test_b": 2})
    {'test_a': 1.0, 'test_b': 0.0}
    """
    return Marks("none", dict(except_ or {}))


@dataclass(frozen=True)
class Submission:
    """One learner's notebook for a lesson and the grade it must get.

    ``name`` becomes the nbgrader student id (lower case, digits, ``_`` and ``-``).
    ``grading_fails`` marks a notebook ``nbgrader autograde`` cannot grade at all (it logs
    an error for that student and records 0; ``course grade`` grades it 0 with a note).
    """

    name: str
    _: KW_ONLY
    expected: Marks | Mapping[str, float]
    answers: Mapping[str, str] = field(default_factory=dict)
    base: Literal["solution", "blank"] = "solution"
    transform: Transform | None = None
    feedback_contains: Sequence[str] = ()
    grading_fails: bool = False
    course_grade_only: bool = False
    needs_box: bool = False
    needs_memory_cap: bool = False
    note_contains: Sequence[str] = ()
    course_grade_note_contains: Sequence[str] = ()
    integrity_note: Sequence[str] = ()
    manual_grade: Sequence[str] = ()
    extra_files: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _STUDENT_ID.match(self.name):
            raise ValueError(
                f"submission name {self.name!r} must match {_STUDENT_ID.pattern} (it is a student "
                "id)"
            )
        if self.base not in ("solution", "blank"):
            raise ValueError(f"{self.name}: base must be 'solution' or 'blank', not {self.base!r}")
        for name in (
            "feedback_contains",
            "note_contains",
            "course_grade_note_contains",
            "integrity_note",
            "manual_grade",
        ):
            if isinstance(getattr(self, name), str):
                raise TypeError(f"{self.name}: {name} must be a list of strings")

    @property
    def notes(self) -> tuple[str, ...]:
        """Every text the note of BOTH graders must contain (what grading restored or
        ignored, and tampering found)."""
        return (*self.note_contains, *self.integrity_note)

    @property
    def course_grade_notes(self) -> tuple[str, ...]:
        """Every text the note of ``course grade`` must contain (all kinds of note)."""
        return (*self.notes, *self.course_grade_note_contains)

    @property
    def expects_a_note(self) -> bool:
        """Whether a note is due from both graders (files removed from the submission
        always get one)."""
        return bool(self.notes or self.extra_files)

    def expected_points(self, points: Mapping[str, float]) -> dict[str, float]:
        """grade_id -> expected points, given the lesson's grade_id -> maximum points."""
        if isinstance(self.expected, Marks):
            return self.expected.resolve(points)
        expected = {gid: float(v) for gid, v in self.expected.items()}
        if set(expected) != set(points):
            raise KeyError(
                f"{self.name}: expected must name every test cell exactly once (missing "
                f"{sorted(set(points) - set(expected))}, unknown "
                f"{sorted(set(expected) - set(points))})"
            )
        return expected

    def wrong_points(
        self, points: Mapping[str, float], actual: Mapping[str, float]
    ) -> dict[str, str]:
        """grade_id -> what differs, for the test cells where ``actual`` (from a gradebook)
        is not what this submission must get; empty when every cell is right.

        >>> points, actual = {"t1": 1, "t2": 2}, {"t1": 1, "t2": 0}
        >>> Submission("a", expected=full_marks()).wrong_points(points, actual)
        {'t2': 'got 0, expected 2.0'}
        """
        expected = self.expected_points(points)
        return {
            cell: f"got {actual.get(cell)}, expected {expected[cell]}"
            for cell in points
            if actual.get(cell) != expected[cell]
        }

    def integrity_problems(
        self, autograded: Path, manual: Sequence[str], max_bytes: int = 5 * 2**20
    ) -> list[str]:
        """What differs from this case's integrity expectations in its autograded notebook
        (``manual``: the test cells the gradebook marks *needs manual grade*): those cells,
        the grader's note (``integrity_note``), ONE cell with the notes marker (on top, a
        forged one unmarked), and a file below ``max_bytes``; empty when all is right."""
        from course.grading.notes import is_notes_cell

        problems = []
        if sorted(self.manual_grade) != sorted(manual):
            problems.append(
                f"needs manual grade: {sorted(manual)}, expected {sorted(self.manual_grade)}"
            )
        if not Path(autograded).is_file():
            return [*problems, f"no autograded notebook at {autograded}"]
        size = Path(autograded).stat().st_size
        if size > max_bytes:
            problems.append(f"the autograded notebook has {size} bytes (more than {max_bytes})")
        nb = nbformat.read(str(autograded), as_version=4)
        notes = [c for c in nb.cells if is_notes_cell(c)]
        if len(notes) > 1 or (notes and not is_notes_cell(nb.cells[0])):
            problems.append(f"{len(notes)} cells carry the grader's notes marker")
        text = notes[0].source if notes else ""
        problems += [
            f"the note lacks {t!r}: {text!r}" for t in self.integrity_note if t not in text
        ]
        return problems

    def notebook(
        self, learner: NotebookNode, instructor: NotebookNode
    ) -> NotebookNode | bytes | str:
        """The submitted notebook (or raw file content) built from the two lesson notebooks."""
        nb = copy.deepcopy(learner)
        stubs = cells_by_id(nb)
        answers = dict(solution_sources(instructor)) if self.base == "solution" else {}
        solution_ids = {gid for gid, c in stubs.items() if is_solution(c)}
        unknown = sorted(set(self.answers) - solution_ids)
        if unknown:
            raise KeyError(
                f"{self.name}: answers for unknown solution cells {unknown}; known: "
                f"{sorted(solution_ids)}"
            )
        answers.update(self.answers)
        for grade_id, source in answers.items():
            if grade_id in solution_ids:
                stubs[grade_id].source = source
        if self.transform is None:
            return nb
        result = self.transform(nb)
        return nb if result is None else result


def write_submission(
    submission: Submission,
    learner: Path | NotebookNode,
    instructor: Path | NotebookNode,
    dest: Path,
) -> Path:
    """Write ``submission`` to the file ``dest`` (folders created) and return ``dest``.

    ``learner``/``instructor`` are the generated and the source notebook (paths or nodes).

    Example::

        write_submission(case, lesson.release_notebook, lesson.source_notebook, tmp / "nb.ipynb")
    """
    content = submission.notebook(_read(learner), _read(instructor))
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        dest.write_bytes(content)
    elif isinstance(content, str):
        dest.write_text(content, encoding="utf-8")
    else:
        nbformat.write(content, str(dest))
    return dest


def place_submissions(
    course_dir: Path,
    lesson: str,
    submissions: Sequence[Submission],
    learner: Path | NotebookNode,
    instructor: Path | NotebookNode,
) -> list[Path]:
    """Write each submission as its own student: ``submitted/<name>/<lesson>/<lesson>.ipynb``.

    Example (a class of 30 from a corpus)::

        place_submissions(course, "01_shared_layers",
                          [replace(c, name=f"{c.name}-{i}") for i in range(5) for c in CASES], ...)
    """
    names = [s.name for s in submissions]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"duplicate submission names: {', '.join(duplicates)}")
    learner_nb, instructor_nb = _read(learner), _read(instructor)
    written = []
    for s in submissions:
        dest = Path(course_dir) / "submitted" / s.name / lesson / f"{lesson}.ipynb"
        written.append(write_submission(s, learner_nb, instructor_nb, dest))
        for relative, text in s.extra_files.items():
            extra = dest.parent / relative
            extra.parent.mkdir(parents=True, exist_ok=True)
            extra.write_text(text, encoding="utf-8")
    return written


def _read(notebook: Path | NotebookNode) -> NotebookNode:
    if isinstance(notebook, NotebookNode):
        return notebook
    return nbformat.read(str(notebook), as_version=4)
