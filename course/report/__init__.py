"""``course report``: how a class did on each exercise, for the teacher.

Reads nbgrader's gradebook (``gradebook.db``) and the autograded notebooks of a course
directory and writes, per graded cell ("exercise"), how many learners got full points,
some points or none, and the most common failure messages: the first line of the error each
failed test cell shows (a ``CheckFailed``/``AssertionError`` message, usually), with numbers
that differ between learners blanked so that similar failures group. Results are grouped by
lesson and the idea it teaches (the lesson notebook's ``metadata["course"]["idea"]``:
:func:`course.lessons.lesson_idea`), so a teacher sees which idea the class has not
understood yet.

Writes three files into ``--out`` (default ``<course-dir>/reports``):

* ``report.md``: the report to read, with the chart;
* ``pass_rates.png``: the share of learners with full points per exercise, by lesson;
* ``report.json``: the same numbers, with the learners behind every failure message.

Example::

    $ nbgrader autograde 01_shared_layers
    $ course report 01_shared_layers 02_separate_weights
    $ course report --course-dir ~/teaching/keras --out /tmp/class-report   # every assignment

The steps, one module each (:mod:`.results`, :mod:`.failures`, :mod:`.gradebook`,
:mod:`.render`), are importable from here: :func:`read_class` (gradebook -> :class:`ClassReport`),
:func:`failure_message`, :func:`normalise`, :func:`to_json`, :func:`to_markdown`,
:func:`plot_pass_rates`, :func:`write_report`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from course.config import find_root
from course.report.failures import failure_message, first_line, group_failures, normalise
from course.report.gradebook import read_class
from course.report.render import percent, plot_pass_rates, to_json, to_markdown, write_report
from course.report.results import (
    MANUAL,
    NO_ERROR,
    NOT_ATTEMPTED,
    NOT_AUTOGRADED,
    ClassReport,
    ExerciseResult,
    FailureGroup,
    LessonResult,
)

__all__ = [
    "MANUAL",
    "NOT_ATTEMPTED",
    "NOT_AUTOGRADED",
    "NO_ERROR",
    "ClassReport",
    "ExerciseResult",
    "FailureGroup",
    "LessonResult",
    "add_arguments",
    "failure_message",
    "first_line",
    "group_failures",
    "normalise",
    "plot_pass_rates",
    "read_class",
    "run",
    "to_json",
    "to_markdown",
    "write_report",
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "assignments",
        nargs="*",
        metavar="ASSIGNMENT",
        help="assignments (lessons) to report on (default: every one in the gradebook)",
    )
    parser.add_argument(
        "--course-dir",
        type=Path,
        help="nbgrader course directory (default: nearest folder with nbgrader_config.py)",
    )
    parser.add_argument(
        "--out", type=Path, help="folder for the report (default: <course-dir>/reports)"
    )
    parser.add_argument(
        "--top", type=int, default=5, help="failure messages listed per exercise (default: 5)"
    )


def run(args: argparse.Namespace) -> int:
    try:
        course_dir = args.course_dir.resolve() if args.course_dir else find_root()
        report = read_class(course_dir, args.assignments)
    except (FileNotFoundError, LookupError) as error:
        print(f"course report: {error}", file=sys.stderr)
        return 1
    paths = write_report(report, args.out or course_dir / "reports", top=args.top)
    for lesson in report.lessons:
        weakest = min(lesson.exercises, key=lambda e: e.pass_rate, default=None)
        summary = f"; weakest: {weakest.grade_id} ({percent(weakest.pass_rate)})" if weakest else ""
        print(
            f"{lesson.name}: {lesson.submitted}/{lesson.students} submitted, mean pass rate "
            f"{percent(lesson.pass_rate)}{summary}"
        )
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0
