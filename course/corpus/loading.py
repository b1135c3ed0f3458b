"""A lesson's corpus: ``tests/corpus/<lesson>.py`` loaded, and what it lacks.

Example::

    cases = lesson_corpus(lesson)
    coverage_problems(cases, lesson.instructor)   # [] when every exercise has a wrong answer
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

from nbformat import NotebookNode

from course.cells import exercises, graded_points
from course.corpus.submission import CORPUS_DIR, Submission, _read
from course.lessons import Lesson


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
