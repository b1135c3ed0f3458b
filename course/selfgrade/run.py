"""One self-grading run at a time per course, its state in ``progress/status.json``.

:func:`run_grade` wraps :func:`course.selfgrade.engine.grade_lessons` with a lock (a
second run, from a terminal or from JupyterLab, is refused while one is going on) and the
run's status, which the JupyterLab extension reads to show the progress.

Example::

    run_grade(Path("."), ["01"])          # "01" is short for 01_shared_layers
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from course.selfgrade.engine import available_lessons, grade_lessons
from course.selfgrade.records import (
    LessonRecord,
    RunStatus,
    SelfGradeError,
    StateDir,
    grading_lock,
    now,
)


def resolve_lessons(course_dir: Path, names: Sequence[str]) -> list[str]:
    """Lesson names from what a learner types: a name, a path to the lesson folder or
    notebook, or the number prefix (``01``); every lesson when ``names`` is empty.
    SelfGradeError for one that matches no lesson."""
    lessons = [lesson.name for lesson in available_lessons(course_dir)]
    if not names:
        return lessons
    chosen = []
    for name in names:
        key = Path(name.rstrip("/")).name.removesuffix(".ipynb")
        matches = [lesson for lesson in lessons if lesson == key] or [
            lesson for lesson in lessons if lesson.startswith(f"{key}_")
        ]
        if len(matches) != 1:
            raise SelfGradeError(f"no such lesson: {name!r} (lessons: {', '.join(lessons)})")
        chosen.append(matches[0])
    return list(dict.fromkeys(chosen))


def run_grade(
    course_dir: Path,
    names: Sequence[str] = (),
    on_lesson: Callable[[str], None] = lambda name: None,
    extra_config: str = "",
) -> dict[str, LessonRecord]:
    """Grade the learner's ``names`` (default: all) under the lock, keeping ``status.json``
    up to date; return the new records. Raises SelfGradeError (nothing graded) when the run
    cannot start."""
    state = StateDir.of(course_dir)
    lessons = resolve_lessons(course_dir, names)
    with grading_lock(state):
        status = RunStatus("running", lessons, started_at=now(), pid=os.getpid())
        state.save_status(status)

        def finished(name: str) -> None:
            status.done.append(name)
            state.save_status(status)
            on_lesson(name)

        def log(text: str) -> None:
            state.log_path.write_text(text, encoding="utf-8")

        try:
            records = grade_lessons(course_dir, lessons, finished, log, extra_config)
        except BaseException as error:
            status.state, status.finished_at = "failed", now()
            status.message = str(error) or type(error).__name__
            state.save_status(status)
            raise
        status.state, status.finished_at = "done", now()
        errors = [r for r in records.values() if r.error]
        status.message = "; ".join(f"{r.lesson}: {r.error}" for r in errors)
        state.save_status(status)
        return records
