"""The learner's progress as one JSON document: what the progress page and the server's
``status`` endpoint show.

Example::

    >>> from course.config import find_root
    >>> summary = progress_summary(find_root(Path(__file__).parent))
    >>> summary["total"]["possible"], len(summary["lessons"])    # doctest: +SKIP
    (50.0, 7)
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import nbformat

from course.cells import graded_points
from course.lessons import Lesson, find_lessons
from course.selfgrade.records import LessonRecord, StateDir, file_sha256, is_running


def learner_notebook(lesson: Lesson) -> Path:
    """The learner's working copy of a lesson: ``notebooks/<lesson>/<lesson>.ipynb``."""
    return lesson.release_notebook


def changed_since_graded(lesson: Lesson, record: LessonRecord) -> bool:
    """Whether the learner's notebook differs from the one ``record`` graded."""
    return file_sha256(learner_notebook(lesson)) != record.notebook_sha256


def lesson_heading(lesson: Lesson) -> tuple[str, float]:
    """(title, points) of a lesson, from the learner's notebook: its first heading and the
    sum of its test cells' points; (the lesson's name, 0) if it cannot be read."""
    try:
        nb = nbformat.read(learner_notebook(lesson), as_version=4)
    except (OSError, ValueError):
        return lesson.name, 0.0
    title = next(
        (
            cell.source.strip().splitlines()[0].lstrip("#").strip()
            for cell in nb.cells
            if cell.cell_type == "markdown" and cell.source.strip().startswith("#")
        ),
        lesson.name,
    )
    return title, float(sum(graded_points(nb).values()))


def progress_summary(course_dir: Path) -> dict[str, Any]:
    """Every lesson with its last self-grade (or none), the course total, and the run."""
    state = StateDir.of(course_dir)
    records = state.records()
    lessons, score, possible = [], 0.0, 0.0
    for lesson in find_lessons(course_dir):
        record = records.get(lesson.name)
        title, worth = lesson_heading(lesson)
        item: dict[str, Any] = {"lesson": lesson.name, "title": title, "possible": worth}
        if record is not None:
            item.update(
                graded_at=record.graded_at,
                score=record.score,
                changed=changed_since_graded(lesson, record),
                error=record.error,
                feedback=record.feedback,
                notes=record.notes,
                exercises=[
                    {"exercise": name, "points": points, "possible": most}
                    for name, points, most in record.exercises()
                ],
                failed=[dataclasses.asdict(check) for check in record.failed],
            )
            if not record.error:
                score += record.score
        possible += worth
        lessons.append(item)
    status = state.status()
    return {
        "lessons": lessons,
        "total": {"score": score, "possible": possible},
        "running": is_running(state),
        "run": dataclasses.asdict(status) if status else None,
    }
