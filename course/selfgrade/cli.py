"""``course check``: grade your own work with the teacher's grader and hidden checks.

For a learner working alone from a clone of the kit (``make grade`` runs it). Copies of
your notebooks in ``notebooks/`` are graded exactly as a teacher's ``course grade`` would
grade them (the same hidden checks, forked kernels, sandbox and time limits); your files
are only read. A progress bar runs while the kernels do, then a table shows your points
per lesson and exercise, the course total, and the message of every check that failed.
The results and each lesson's feedback page stay in ``progress/``; the progress page in
JupyterLab (``progress.ipynb``) shows the same.

Example::

    $ course check 01                   # lesson 01_shared_layers
    $ course check                      # every lesson
    $ course check --table              # the table of the last grades, grading nothing
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TextIO

from course.config import find_root
from course.grading.console import printable
from course.lessons import find_lessons
from course.selfgrade.records import LessonRecord, SelfGradeError, StateDir
from course.selfgrade.run import resolve_lessons, run_grade
from course.selfgrade.summary import changed_since_graded, lesson_heading

BAR_WIDTH = 24


class ProgressBar:
    """``[#######---------]  2/7 lessons  0:41``, redrawn in place on a terminal (every
    half second, so the clock runs while kernels do), one line per lesson elsewhere."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total, self.done, self.stream = total, 0, stream
        self.started = time.monotonic()
        self.live = stream.isatty()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._tick, daemon=True)

    def __enter__(self) -> ProgressBar:
        if self.live:
            self._draw()
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self.live:
            self._thread.join()
            self._draw()
            self.stream.write("\n")
            self.stream.flush()

    def line(self) -> str:
        """The bar as text.

        >>> import io
        >>> bar = ProgressBar(4, io.StringIO()); bar.done = 1
        >>> bar.line()[:34]
        '[######------------------]  1/4 le'
        """
        filled = BAR_WIDTH * self.done // max(1, self.total)
        seconds = int(time.monotonic() - self.started)
        return (
            f"[{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {self.done:>2}/{self.total} "
            f"lesson{'s' * (self.total != 1)}  {seconds // 60}:{seconds % 60:02d}"
        )

    def finished(self, name: str) -> None:
        with self._lock:
            self.done += 1
            if self.live:
                self._draw()
            else:
                print(f"{self.line()}  {name} graded", file=self.stream, flush=True)

    def _draw(self) -> None:
        self.stream.write("\r" + self.line())
        self.stream.flush()

    def _tick(self) -> None:
        while not self._stop.wait(0.5):
            with self._lock:
                self._draw()


def _points(points: float, possible: float) -> str:
    return f"{points:g} / {possible:g}"


def table(course_dir: Path, records: dict[str, LessonRecord]) -> str:
    """The learner's results: per lesson and exercise, the failed checks' messages, the
    course total, and which notebooks changed since they were graded."""
    rows = []
    total = possible = 0.0
    for lesson in find_lessons(course_dir):
        record = records.get(lesson.name)
        if record is None:
            title = printable(lesson_heading(lesson)[0])[:52]
            rows.append(f"{title:<52} {'not graded yet':>14}")
            continue
        if record.error:
            rows.append(f"{record.lesson:<52} {'NOT GRADED':>14}  {printable(record.error)}")
            continue
        total, possible = total + record.score, possible + record.max_score
        when = record.graded_at.replace("T", " ")[:16]
        rows.append(
            f"{printable(record.title)[:52]:<52} {_points(record.score, record.max_score):>14}"
            f"  graded {when} UTC"
        )
        if changed_since_graded(lesson, record):
            rows.append("    (your notebook changed since it was graded: grade it again)")
        for exercise, points, most in record.exercises():
            rows.append(f"  {printable(exercise)[:50]:<50} {_points(points, most):>14}")
        for check in record.failed:
            first, *more = check.message.splitlines() or [""]
            rows.append(f"      x {check.grade_id}: {printable(first)}")
            rows.extend(f"          {printable(line)}" for line in more)
        for note in record.notes:
            rows.append(f"      note: {printable(note)}")
    rows.append(f"{'Course total (lessons graded)':<52} {_points(total, possible):>14}")
    return "\n".join(rows)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "lessons",
        nargs="*",
        metavar="LESSON",
        help="lessons to grade: names, folders or numbers like 01 (default: every lesson)",
    )
    parser.add_argument(
        "--course-dir",
        type=Path,
        help="the kit's folder (default: the nearest folder with nbgrader_config.py)",
    )
    parser.add_argument(
        "--table", action="store_true", help="show the table of your last grades; grade nothing"
    )


def run(args: argparse.Namespace) -> int:
    try:
        course_dir = (args.course_dir or find_root()).resolve()
        names = resolve_lessons(course_dir, args.lessons)
    except (FileNotFoundError, SelfGradeError) as error:
        print(f"course check: {error}", file=sys.stderr)
        return 2
    state = StateDir.of(course_dir)
    # JupyterLab stops a grade with SIGTERM: stop like Ctrl-C, so the kernels stop too.
    signal.signal(signal.SIGTERM, _interrupt)
    if not args.table:
        print(
            f"course check: grading {', '.join(names)} with the teacher's grader and hidden "
            "checks, on copies of your notebooks (yours are not changed)",
            flush=True,
        )
        try:
            with ProgressBar(len(names), sys.stdout) as bar:
                records = run_grade(course_dir, names, bar.finished)
        except SelfGradeError as error:
            print(f"course check: {error}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("\ncourse check: interrupted; nothing of yours was changed", file=sys.stderr)
            return 130
        problems = [r for r in records.values() if r.error]
        if problems:
            print(f"course check: {len(problems)} not graded; details in {state.log_path}")
    print()
    print(table(course_dir, state.records()))
    feedback = state.feedback_dir
    if feedback.is_dir() and any(feedback.glob("*.html")):
        print(f"\nFeedback pages (open in a browser): {feedback}/<lesson>.html")
    return 0
