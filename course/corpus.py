"""Learner submissions described relative to a lesson, for tests and benchmarks.

A :class:`Submission` says how a learner's notebook differs from the generated learner
notebook (``notebooks/<lesson>/<lesson>.ipynb``) and what nbgrader must award it:

* ``base="solution"`` fills every solution cell with the instructor's code (the
  ``### BEGIN/END SOLUTION`` marker lines removed); ``base="blank"`` keeps the stubs;
* ``answers`` replaces chosen solution cells (by nbgrader ``grade_id``) with other code;
* ``transform`` edits the finished notebook (or returns raw bytes, e.g. invalid JSON);
* ``expected`` gives the points per autograded test cell, usually written relative to a
  full or empty score with :func:`full_marks` / :func:`no_marks`;
* ``feedback_contains`` lists text the learner's feedback must show;
* ``integrity_note`` lists text of the grader's note that BOTH graders must write (the
  kit's integrity preprocessors: tampering found, files removed), ``manual_grade`` the test
  cells both must leave at 0 and *needs manual grade*, and ``extra_files`` files submitted
  next to the notebook (relative path -> text), e.g. a ``helpers/`` that shadows the kit's;
* ``needs_box`` marks a notebook whose outputs hold only where grading kernels run in a
  box (:mod:`course.isolation`; a system without user namespaces grades it otherwise: the
  pipeline tests leave it out there);
* ``needs_memory_cap`` marks a notebook whose outcome holds only where a grading kernel's
  memory is capped by a cgroup (which counts shared memory and in-memory files: as root,
  or with a delegated cgroup; the pipeline tests leave it out elsewhere);
* ``course_grade_only`` marks a notebook only ``course grade`` may grade (a memory bomb,
  one that reaches for the solutions: plain ``nbgrader autograde`` has no memory limit
  and no sandbox);
* ``note_contains`` gives text of the note BOTH graders put at the top of the learner's
  notebook about what grading restored or ignored (an edited or deleted test, a copied
  cell, a pasted foreign cell, cells in another order: :mod:`course.grading.fairness`), and
  ``course_grade_note_contains`` text of the note only ``course grade`` writes, about the
  run (a timeout, a memory error, a file that is not a notebook).

The cases of a lesson live in ``tests/corpus/<lesson>.py`` as a ``CASES`` list::

    from course.corpus import Submission, full_marks, no_marks

    CASES = [
        Submission("correct", expected=full_marks()),
        Submission("untouched", base="blank", expected=no_marks()),
        Submission("wrong_siamese", answers={"build_siamese": "model = None"},
                   expected=full_marks(except_={"test_build_siamese": 0}),
                   feedback_contains=["must call the same layer twice"]),
    ]

and are turned into notebooks with :func:`write_submission` or, for a whole class in an
nbgrader course directory, :func:`place_submissions`.
"""

from __future__ import annotations

import copy
import importlib.util
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Literal

import nbformat
from nbformat import NotebookNode

from course import cells
from course.cells import cell_by_id, cells_by_id, exercises, graded_points, is_solution, mark
from course.lessons import Lesson

#: A transform edits the notebook in place (returns None), returns a new notebook, or
#: returns raw file content (bytes/str) to write as is.
Transform = Callable[[NotebookNode], "NotebookNode | bytes | str | None"]

CORPUS_DIR = Path("tests") / "corpus"
_STUDENT_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_SOLUTION_MARKER = re.compile(r"^\s*#+\s*(BEGIN|END) SOLUTION\s*$")


# ------------------------------------------------------------------ notebook reading


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


# --------------------------------------------------------------------------- marks


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


# ---------------------------------------------------------------------- submission


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


def edit_cell(grade_id: str, source: str) -> Transform:
    """A transform that replaces the source of cell ``grade_id`` (e.g. a locked test cell).

    >>> Submission("edits_test", transform=edit_cell("test_a", "pass"), expected=no_marks()).name
    'edits_test'
    """

    def transform(nb: NotebookNode) -> None:
        cell_by_id(nb, grade_id).source = source

    return transform


def delete_cell(grade_id: str) -> Transform:
    """A transform that removes cell ``grade_id`` (a learner who deletes a test or an answer).

    >>> Submission("deletes_test", transform=delete_cell("test_a"), expected=no_marks()).name
    'deletes_test'
    """

    def transform(nb: NotebookNode) -> None:
        cell_by_id(nb, grade_id)  # KeyError for a grade_id the lesson does not have
        nb.cells = [c for c in nb.cells if cells.grade_id_of(c) != grade_id]

    return transform


def delete_cells(*grade_ids: str) -> Transform:
    """A transform that removes several cells (a learner who deletes a whole exercise).

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


def _read(notebook: Path | NotebookNode) -> NotebookNode:
    if isinstance(notebook, NotebookNode):
        return notebook
    return nbformat.read(str(notebook), as_version=4)


# -------------------------------------------------------------------------- loading


def corpus_path(root: Path, lesson: str) -> Path:
    """``<root>/tests/corpus/<lesson>.py``."""
    return Path(root) / CORPUS_DIR / f"{lesson}.py"


def lesson_corpus(lesson: Lesson) -> list[Submission]:
    """The cases of ``lesson`` from ``tests/corpus/<lesson>.py`` under its course root;
    an empty list when the lesson has no corpus file yet."""
    path = corpus_path(lesson.root, lesson.name)
    return load_corpus(path) if path.is_file() else []


def load_corpus(path: Path) -> list[Submission]:
    """The ``CASES`` list of a corpus file, loaded by path (lesson names start with digits).

    Raises ValueError if CASES is missing, holds something else, or repeats a name.
    """
    path = Path(path)
    spec = importlib.util.spec_from_file_location(f"corpus_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ValueError(f"cannot load corpus file {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cases = getattr(module, "CASES", None)
    if not isinstance(cases, list) or not all(isinstance(c, Submission) for c in cases):
        raise ValueError(f"{path}: CASES must be a list of course.corpus.Submission")
    names = [c.name for c in cases]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"{path}: duplicate case names {', '.join(duplicates)}")
    return cases


def coverage_problems(cases: Sequence[Submission], instructor: Path | NotebookNode) -> list[str]:
    """What a lesson's corpus lacks; the minimum every lesson must have is

    * a correct submission (base="solution", nothing changed) with full marks;
    * the untouched learner notebook (base="blank", nothing changed) with 0 everywhere;
    * per graded exercise, a submission changing only that exercise's answer that loses
      points on that exercise's tests only and names a feedback message.
    """
    nb = _read(instructor)
    points = graded_points(nb)
    problems = []

    def plain(c: Submission) -> bool:
        return (
            not c.answers
            and c.transform is None
            and not c.grading_fails
            and not c.course_grade_only
            and not c.extra_files
        )

    if not any(
        plain(c) and c.base == "solution" and c.expected_points(points) == points for c in cases
    ):
        problems.append("no correct submission (base='solution', no answers) expecting full marks")
    if not any(
        plain(c) and c.base == "blank" and not any(c.expected_points(points).values())
        for c in cases
    ):
        problems.append("no untouched submission (base='blank', no answers) expecting 0 everywhere")
    for solution_id, tests in exercises(nb).items():
        if not tests:
            continue

        def loses_only_here(c: Submission, tests: list[str] = tests) -> bool:
            expected = c.expected_points(points)
            lost = {gid for gid in points if expected[gid] < points[gid]}
            return bool(lost) and lost <= set(tests)

        if not any(
            set(c.answers) == {solution_id}
            and c.base == "solution"
            and c.transform is None
            and not c.grading_fails
            and not c.course_grade_only
            and c.feedback_contains
            and loses_only_here(c)
            for c in cases
        ):
            problems.append(
                f"no wrong answer for exercise {solution_id!r} (answers={{{solution_id!r}: ...}}) "
                f"that loses points on {', '.join(tests)} only and lists feedback_contains"
            )
    return problems


# ------------------------------------------------------------------------- feedback


class _OutputText(HTMLParser):
    """Collects the text inside ``<div class="... output_subarea ...">`` elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._depth = 0  # nesting of <div> inside an output area; 0 = outside

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "div":
            return
        if self._depth:
            self._depth += 1
        elif "output_subarea" in (dict(attrs).get("class") or "").split():
            self._depth = 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "div" and self._depth:
            self._depth -= 1
            if not self._depth:
                self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._depth:
            self.parts.append(data)


def feedback_outputs(html_source: str) -> str:
    r"""The text of the cell outputs in an nbgrader feedback page (errors, prints), without
    the cells' source code, so a message found here was really produced by the run.

    >>> feedback_outputs('<pre>assert x, "msg"</pre><div class="output_subarea output_error">'
    ...                  '<pre><span>AssertionError</span>: x &lt; 1</pre></div>')
    'AssertionError: x < 1\n'
    """
    parser = _OutputText()
    parser.feed(html_source)
    parser.close()
    return "".join(parser.parts)
