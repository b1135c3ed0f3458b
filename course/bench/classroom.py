"""The synthetic class of ``course bench``: learners built from the submission corpus,
graded with serial ``nbgrader autograde`` and with ``course grade``; both gradebooks compared.

Example::

    >>> learner_ids(3)
    ['learner-1', 'learner-2', 'learner-3']
"""

from __future__ import annotations

import dataclasses
import shlex
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import nbformat

from course.bench.notebook_timing import (
    cell_times,
    own_compute,
)
from course.bench.phases import progress, timed_run
from course.build import IGNORED
from course.cells import graded_points
from course.config import (
    CONFIG_FILE,
    cell_timeout,
    load_course_config,
    set_cell_timeout,
    tool_environment,
)
from course.corpus import Submission, lesson_corpus, place_submissions
from course.lessons import Lesson


def learner_ids(learners: int) -> list[str]:
    """Student ids ``learner-01`` ... (zero-padded to the width of ``learners``).

    >>> learner_ids(3), learner_ids(10)[-1]
    (['learner-1', 'learner-2', 'learner-3'], 'learner-10')
    """
    width = len(str(learners))
    return [f"learner-{i:0{width}d}" for i in range(1, learners + 1)]


def left_out_reason(case: Submission) -> str | None:
    """Why ``case`` cannot be in the class both graders grade, or None when it can.

    The class is graded twice, by serial ``nbgrader autograde`` and by ``course grade``, and
    the two gradebooks are compared; so it holds only what plain nbgrader survives:

    * ``grading_fails``: a file nbgrader cannot grade at all; the two graders record it
      differently by design;
    * ``course_grade_only``: a notebook plain nbgrader does not survive (a memory bomb, or
      one that signals its grader: nbgrader is killed, the rest of the class is not graded).

    >>> from course.corpus import Submission, full_marks
    >>> left_out_reason(Submission("bomb", expected=full_marks(), course_grade_only=True))
    'only course grade survives it'
    """
    if case.grading_fails:
        return "nbgrader cannot grade the file at all"
    if case.course_grade_only:
        return "only course grade survives it"
    return None


def class_cases(cases: Sequence[Submission]) -> list[Submission]:
    """The cases of a lesson that go into the class (:func:`left_out_reason` is None)."""
    return [case for case in cases if left_out_reason(case) is None]


def class_layout(
    cases: Mapping[str, Sequence[Submission]], learners: int
) -> dict[str, list[Submission]]:
    """Lesson -> one submission per learner: learner *i* (from 1) hands in case
    ``(i - 1) mod len(cases)`` of every lesson, renamed to the learner's id.

    Only cases both graders can grade are used (:func:`class_cases`). Raises ValueError
    for a lesson without such cases.

    >>> from course.corpus import Submission, full_marks, no_marks
    >>> cases = [Submission("correct", expected=full_marks()),
    ...          Submission("untouched", base="blank", expected=no_marks())]
    >>> [(s.name, s.base) for s in class_layout({"01_x": cases}, 3)["01_x"]]
    [('learner-1', 'solution'), ('learner-2', 'blank'), ('learner-3', 'solution')]
    """
    if learners < 1:
        raise ValueError("a class needs at least one learner")
    layout = {}
    for lesson, lesson_cases in cases.items():
        usable = class_cases(lesson_cases)
        if not usable:
            raise ValueError(
                f"{lesson} has no gradable submissions in its corpus (tests/corpus/{lesson}.py)"
            )
        layout[lesson] = [
            dataclasses.replace(usable[i % len(usable)], name=student)
            for i, student in enumerate(learner_ids(learners))
        ]
    return layout


def nbgrader_command(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """This environment's ``nbgrader`` with ``args`` in ``cwd``."""
    return subprocess.run(
        [str(Path(sys.executable).parent / "nbgrader"), *args],
        cwd=cwd,
        env=tool_environment(),
        capture_output=True,
        text=True,
    )


def build_class(
    root: Path,
    lessons: Sequence[Lesson],
    layout: Mapping[str, Sequence[Submission]],
    course: Path,
    time_limit: int | None = None,
) -> None:
    """A temporary nbgrader course in ``course``: the config (with ``time_limit`` seconds
    per cell for both graders, when given), the lessons' sources, ``generate_assignment``
    for each (the gradebook knows them), and every learner's submission in
    ``submitted/<learner>/<lesson>/``."""
    course.mkdir(parents=True)
    shutil.copy(root / CONFIG_FILE, course / CONFIG_FILE)
    if time_limit is not None:
        set_cell_timeout(course, time_limit)
    for lesson in lessons:
        shutil.copytree(lesson.source_dir, course / "solutions" / lesson.name, ignore=IGNORED)
        done = nbgrader_command("generate_assignment", lesson.name, cwd=course)
        if done.returncode != 0:
            raise RuntimeError(
                f"nbgrader generate_assignment {lesson.name} "
                f"failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
            )
        # Learners start from the committed learner notebook, as in tests/pipeline.
        place_submissions(
            course,
            lesson.name,
            layout[lesson.name],
            lesson.release_notebook,
            lesson.source_notebook,
        )


def read_grades(
    course: Path, course_id: str, lessons: Sequence[str], students: Sequence[str]
) -> dict[str, float | None]:
    """``"student/lesson/test cell" -> score`` from the course's gradebook (None: no grade)."""
    from nbgrader.api import Gradebook, MissingEntry

    grades: dict[str, float | None] = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id) as gradebook:
        for lesson in lessons:
            cells = [c.name for c in gradebook.find_notebook(lesson, lesson).grade_cells]
            for student in students:
                for cell_name in cells:
                    try:
                        score = gradebook.find_grade(cell_name, lesson, lesson, student).score
                        grades[f"{student}/{lesson}/{cell_name}"] = (
                            None if score is None else float(score)
                        )
                    except MissingEntry:
                        grades[f"{student}/{lesson}/{cell_name}"] = None
    return grades


def grade_differences(
    a: Mapping[str, float | None], b: Mapping[str, float | None], names: tuple[str, str]
) -> list[str]:
    """One line per grade key where the two gradebooks disagree (or one lacks it).

    >>> serial, parallel = {"s/l/t": 1.0, "s/l/u": 2.0}, {"s/l/t": 1.0, "s/l/u": 0.0}
    >>> grade_differences(serial, parallel, ("nbgrader", "course grade"))
    ['s/l/u: nbgrader 2.0, course grade 0.0']
    """
    return [
        f"{key}: {names[0]} {a.get(key)}, {names[1]} {b.get(key)}"
        for key in sorted(set(a) | set(b))
        if a.get(key) != b.get(key)
    ]


def expected_grades(
    lessons: Sequence[Lesson], layout: Mapping[str, Sequence[Submission]]
) -> dict[str, float]:
    """``"student/lesson/test cell" -> points`` the corpus says each submission earns."""
    expected = {}
    for lesson in lessons:
        points = graded_points(nbformat.read(lesson.source_notebook, as_version=4))
        for submission in layout[lesson.name]:
            for cell_name, value in submission.expected_points(points).items():
                expected[f"{submission.name}/{lesson.name}/{cell_name}"] = value
    return expected


def graded_compute(
    course: Path, lessons: Sequence[str], students: Sequence[str]
) -> dict[str, float]:
    """``"student/lesson" -> own compute`` of each autograded notebook (nbgrader keeps
    nbclient's timing metadata); notebooks without it are left out."""
    compute = {}
    for student in students:
        for lesson in lessons:
            path = course / "autograded" / student / lesson / f"{lesson}.ipynb"
            if path.is_file():
                times = cell_times(nbformat.read(path, as_version=4))
                if times:
                    compute[f"{student}/{lesson}"] = own_compute(times)
    return compute


def _tail(done: subprocess.CompletedProcess, limit: int = 1500) -> str:
    text = (done.stdout + done.stderr).strip()
    return text if len(text) <= limit else "..." + text[-limit:]


def grader_command(override: str | None) -> tuple[list[str] | None, str | None]:
    """The ``course grade`` command line to run, or (None, why it is not available)."""
    if override:
        return shlex.split(override), None
    from course.cli import SUBCOMMANDS

    if "grade" not in SUBCOMMANDS:
        return (
            None,
            "`course grade` is not registered in course/cli.py (pass --grader-cmd to use another "
            "one)",
        )
    return [str(Path(sys.executable).parent / "course"), "grade"], None


def measure_class(
    root: Path,
    lessons: Sequence[Lesson],
    learners: int,
    workers: int,
    grader: Sequence[str] | None,
    unavailable: str | None,
    work: Path,
    time_limit: int | None = None,
) -> dict[str, Any]:
    """Grade the synthetic class with serial nbgrader and with ``course grade`` (with
    ``time_limit`` seconds per cell instead of the course's, when given)."""
    layout = class_layout({lesson.name: lesson_corpus(lesson) for lesson in lessons}, learners)
    names = [lesson.name for lesson in lessons]
    students = learner_ids(learners)
    template = work / "class-template"
    progress(
        f"class: {learners} learners x {len(names)} lesson(s), building the course in {template}"
    )
    build_class(root, lessons, layout, template, time_limit)
    config = load_course_config(template)
    course_id = config.CourseDirectory.course_id
    expected = expected_grades(lessons, layout)
    result: dict[str, Any] = {
        "lessons": names,
        "learners": learners,
        "notebooks": learners * len(names),
        "workers": workers,
        "cases": {
            name: [s.name for s in class_cases(lesson_corpus(lesson))]
            for name, lesson in zip(names, lessons, strict=True)
        },
        "left_out": {
            name: {s.name: left_out_reason(s) for s in lesson_corpus(lesson) if left_out_reason(s)}
            for name, lesson in zip(names, lessons, strict=True)
        },
        "rule": "learner i (from 1) hands in case (i - 1) mod len(cases) of every lesson",
        "time_limit": cell_timeout(config),
    }

    serial_dir = work / "class-serial"
    shutil.copytree(template, serial_dir)
    serial_seconds, failures = 0.0, []
    for name in names:
        progress(f"class: nbgrader autograde {name} ({learners} learners, serial)")
        seconds, done = timed_run(
            [str(Path(sys.executable).parent / "nbgrader"), "autograde", name], serial_dir
        )
        serial_seconds += seconds
        if done.returncode != 0:
            failures.append(f"nbgrader autograde {name} exited {done.returncode}: {_tail(done)}")
    serial_grades = read_grades(serial_dir, course_id, names, students)
    compute = graded_compute(serial_dir, names, students)
    progress(f"class: serial nbgrader {serial_seconds:.1f} s")
    result["serial"] = {
        "command": "nbgrader autograde LESSON (once per lesson)",
        "seconds": round(serial_seconds, 3),
        "failures": failures,
        "expected_mismatches": grade_differences(expected, serial_grades, ("corpus", "nbgrader")),
    }
    result["notebook_compute"] = compute

    if grader is None:
        result["parallel"] = {"available": False, "reason": unavailable}
        return result
    parallel_dir = work / "class-parallel"
    shutil.copytree(template, parallel_dir)
    command = [*grader, *names, "--workers", str(workers), "--course-dir", str(parallel_dir)]
    progress(f"class: {shlex.join(command)}")
    seconds, done = timed_run(command, parallel_dir)
    parallel_grades = read_grades(parallel_dir, course_id, names, students)
    differences = grade_differences(serial_grades, parallel_grades, ("nbgrader", "course grade"))
    progress(
        f"class: course grade {seconds:.1f} s, exit {done.returncode}, {len(differences)} grade "
        "differences"
    )
    result["parallel"] = {
        "available": True,
        "command": shlex.join(command),
        "seconds": round(seconds, 3),
        "returncode": done.returncode,
        "output_tail": _tail(done) if done.returncode else "",
        "differences": differences,
        "same_grades": not differences and len(serial_grades) > 0,
        "grades_compared": len(serial_grades),
    }
    return result
