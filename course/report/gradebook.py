"""Reading a class's results: nbgrader's gradebook and the autograded notebooks.

Example::

    report = read_class(Path("~/teaching/keras").expanduser(), ["01_shared_layers"])
    [lesson.submitted for lesson in report.lessons]
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
from nbformat import NotebookNode
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.coursedir import CourseDirectory

from course.cells import grade_id_of, is_graded
from course.config import load_course_config
from course.lessons import lesson_idea
from course.report.failures import failure_message, first_line, group_failures
from course.report.results import MANUAL, NOT_AUTOGRADED, ClassReport, ExerciseResult, LessonResult


def _read(path: Path) -> NotebookNode | None:
    try:
        return nbformat.read(str(path), as_version=4)
    except (OSError, ValueError):  # missing, or not a notebook (nbformat's errors are ValueErrors)
        return None


def _heading(source: str) -> str | None:
    line = first_line(source)
    return line.lstrip("#").strip() if line.startswith("#") else None


def _titles(notebook: NotebookNode | None) -> tuple[str | None, dict[str, str], list[str]]:
    """(lesson title, grade_id -> exercise title, grade cells in notebook order)."""
    if notebook is None:
        return None, {}, []
    lesson_title, titles, order = None, {}, []
    heading = exercise = None
    for cell in notebook.cells:
        if cell.cell_type == "markdown" and (text := _heading(cell.source)):
            lesson_title = lesson_title or text
            heading = text
            if "exercise" in text.lower():
                exercise = text
        gid = grade_id_of(cell)
        if is_graded(cell) and gid:
            order.append(gid)
            title = exercise or heading or gid
            # "## 5. Exercise 1 — Count the calls (2 points)" -> "Exercise 1 — Count the calls"
            title = re.sub(r"^\d+\.\s*", "", title)
            titles[gid] = re.sub(r"\s*\(\d+(\.\d+)? points?\)\s*$", "", title)
    return lesson_title, titles, order


def read_class(course_dir: Path, assignments: list[str] | None = None) -> ClassReport:
    """Every (or the named) assignment of the course in ``course_dir``, from its gradebook
    and autograded notebooks.

    Raises FileNotFoundError without a gradebook, LookupError naming unknown assignments.
    """
    course_dir = Path(course_dir).resolve()
    config = load_course_config(course_dir)
    coursedir = CourseDirectory(config=config)
    coursedir.root = str(course_dir)
    if (
        coursedir.db_url.startswith("sqlite:///")
        and not Path(coursedir.db_url[len("sqlite:///") :]).is_file()
    ):
        raise FileNotFoundError(
            f"no gradebook at {coursedir.db_url[len('sqlite:///') :]}: run `nbgrader "
            "generate_assignment` and `nbgrader autograde` in the course directory first"
        )
    with Gradebook(coursedir.db_url, coursedir.course_id) as gradebook:
        known = [a.name for a in gradebook.assignments]
        names = list(assignments) if assignments else sorted(known)
        unknown = [n for n in names if n not in known]
        if unknown:
            raise LookupError(
                f"not in the gradebook: {', '.join(unknown)} (known: "
                f"{', '.join(sorted(known)) or 'none'})"
            )
        return ClassReport(
            coursedir.course_id, [_read_lesson(gradebook, coursedir, name) for name in names]
        )


def _outcome(
    grade, max_points: float, autograded: NotebookNode | None, grade_id: str
) -> tuple[str, str | None]:
    """("passed" | "partly" | "failed" | "ungraded", why points were lost or None) for one grade."""
    if grade.auto_score is None and grade.manual_score is None:
        return "ungraded", NOT_AUTOGRADED if autograded is None else MANUAL
    score = float(grade.score)
    if score >= max_points:
        return "passed", None
    message = NOT_AUTOGRADED if autograded is None else failure_message(autograded, grade_id)
    return ("partly" if score > 0 else "failed"), message


def _read_lesson(gradebook: Gradebook, coursedir: CourseDirectory, name: str) -> LessonResult:
    roster = sorted(s.id for s in gradebook.students)
    submitted = []
    for student in roster:
        try:
            gradebook.find_submission(name, student)
            submitted.append(student)
        except MissingEntry:
            pass
    lesson_title, idea = None, ""
    result: list[ExerciseResult] = []
    for notebook in sorted(gradebook.find_assignment(name).notebooks, key=lambda n: n.name):
        filename = f"{notebook.name}.ipynb"
        reference = next(
            (
                nb
                for step in (coursedir.release_directory, coursedir.source_directory)
                if (nb := _read(Path(coursedir.format_path(step, ".", name)) / filename))
                is not None
            ),
            None,
        )
        autograded = {
            s: _read(
                Path(coursedir.format_path(coursedir.autograded_directory, s, name)) / filename
            )
            for s in submitted
        }
        if reference is None:
            reference = next((nb for nb in autograded.values() if nb is not None), None)
        title, titles, order = _titles(reference)
        lesson_title = lesson_title or title
        idea = idea or lesson_idea(reference)
        cells = {cell.name: cell for cell in notebook.grade_cells}
        for grade_id in [g for g in order if g in cells] + sorted(set(cells) - set(order)):
            exercise = ExerciseResult(
                grade_id,
                notebook.name,
                titles.get(grade_id, grade_id),
                float(cells[grade_id].max_score),
            )
            messages = {}
            for student in submitted:
                grade = gradebook.find_grade(grade_id, notebook.name, name, student)
                outcome, message = _outcome(
                    grade, exercise.max_points, autograded[student], grade_id
                )
                setattr(exercise, outcome, getattr(exercise, outcome) + 1)
                if message:
                    messages[student] = message
            exercise.failures = group_failures(messages)
            result.append(exercise)
    return LessonResult(
        name=name,
        title=lesson_title or name,
        idea=idea,
        students=len(roster),
        not_submitted=[s for s in roster if s not in submitted],
        exercises=result,
    )
