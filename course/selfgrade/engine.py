"""Grade a learner's own notebooks with the teacher's grader, on copies, in a throwaway course.

:func:`grade_lessons` does what a teacher's class does for one learner, in a temporary
nbgrader course of its own (its own gradebook), from the kit's ``solutions/`` (which a
learner working from a clone has):

1. ``nbgrader generate_assignment`` of each lesson (the gradebook learns the cells and
   hidden tests), done once and kept in ``progress/.template/`` until the lesson's
   ``solutions/`` folder or the course config changes; each run starts from a copy;
2. the learner's ``notebooks/<lesson>/`` is COPIED in as the submission of student
   :data:`LEARNER` (read once; the learner's files are never written, locked or moved);
3. ``course grade`` grades them (:func:`course.grading.cli.run`): the same preprocessors,
   forked warm kernels, sandbox, memory limit, per-cell time limit and per-notebook budget
   as a teacher's run of this course;
4. the points of every test cell, the message of every failed one (as the teacher's report
   reads it, :func:`course.report.failure_message`) and the grader's notes are kept in
   ``progress/progress.json``; the feedback page, hidden tests left out
   (:mod:`course.selfgrade.feedback`), in ``progress/feedback/<lesson>.html``.

The temporary course is deleted afterwards. Example::

    records = grade_lessons(Path("."), ["01_shared_layers"])
    records["01_shared_layers"].score   # 5.0 of 8.0
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import re
import shutil
import tempfile
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import nbformat
from nbformat import NotebookNode
from nbgrader.api import Gradebook
from nbgrader.converters import GenerateAssignment
from nbgrader.coursedir import CourseDirectory
from nbgrader.utils import capture_log
from sqlalchemy.exc import SAWarning

from course.build import IGNORED
from course.cells import cells_by_id, exercises, grade_id_of, is_graded
from course.config import CONFIG_FILE, load_course_config, put_bin_on_path
from course.grading import cli as grading_cli
from course.grading.records import Result
from course.lessons import Lesson, find_lessons
from course.report import failure_message, first_line
from course.selfgrade.feedback import find_leaks, message_of, secret_lines, write_feedback
from course.selfgrade.records import Check, LessonRecord, SelfGradeError, StateDir, now
from course.selfgrade.summary import learner_notebook

#: The student id the learner's copies are graded under, in the temporary course.
LEARNER = "me"
#: In ``progress/``: the generated course every run starts from, and what it was made of.
TEMPLATE = ".template"
MANIFEST = "manifest.json"


def available_lessons(course_dir: Path) -> list[Lesson]:
    """The lessons a learner can grade: those with an instructor notebook in ``solutions/``
    (the hidden tests). SelfGradeError when there is none, e.g. on a hub, where learners
    get only the released notebooks."""
    lessons = find_lessons(course_dir)
    if not lessons:
        raise SelfGradeError(
            f"no instructor notebooks in {Path(course_dir) / 'solutions'}: grading your own "
            "work needs the kit's solutions/ folder (a clone of the repository has it); in a "
            "class, your teacher grades your submissions"
        )
    return lessons


def grade_lessons(
    course_dir: Path,
    names: Sequence[str] | None = None,
    on_lesson: Callable[[str], None] = lambda name: None,
    log: Callable[[str], None] = lambda text: None,
    extra_config: str = "",
) -> dict[str, LessonRecord]:
    """Grade the learner's notebooks of ``names`` (default: every lesson); return and save
    (in ``progress/``) one record per lesson. ``on_lesson`` is called with each lesson's name
    as it finishes; ``log`` gets what ``course grade`` prints; ``extra_config`` is appended
    to the temporary course's ``nbgrader_config.py`` (tests use it for short time limits)."""
    course_dir = Path(course_dir).resolve()
    lessons = available_lessons(course_dir)
    if names:
        unknown = sorted(set(names) - {lesson.name for lesson in lessons})
        if unknown:
            raise SelfGradeError(
                f"no such lesson: {', '.join(unknown)} (lessons: "
                f"{', '.join(lesson.name for lesson in lessons)})"
            )
        lessons = [lesson for lesson in lessons if lesson.name in names]
    state = StateDir.of(course_dir)
    records = state.records()
    with tempfile.TemporaryDirectory(prefix="course-check-") as tmp:
        course = Path(tmp) / "course"
        snapshots = _new_course(course_dir, course, lessons, extra_config)
        graded = {}
        missing = [lesson for lesson in lessons if lesson.name not in snapshots]
        for lesson in missing:
            graded[lesson.name] = _missing(lesson)
            on_lesson(lesson.name)
        if snapshots:
            results = _run_course_grade(course, Path(tmp) / "scratch", sorted(snapshots), on_lesson)
            for name, digest in snapshots.items():
                lesson = next(item for item in lessons if item.name == name)
                graded[name] = _record(course, lesson, digest, results.get(name), state)
        log_text = (course / "course-grade.log").read_text(encoding="utf-8", errors="replace")
        log(log_text)
    records.update(graded)
    state.save_records(records)
    return graded


# ----------------------------------------------------------------- the temporary course


def _new_course(
    course_dir: Path, course: Path, lessons: Sequence[Lesson], extra_config: str
) -> dict[str, str]:
    """Set up the temporary course; return lesson -> SHA-256 of the learner notebook copied."""
    config_text = (course_dir / CONFIG_FILE).read_text(encoding="utf-8")
    config_text += "\n" + extra_config + "\n"
    template = StateDir.of(course_dir).path / TEMPLATE
    try:
        _update_template(template, lessons, config_text)
    except SelfGradeError:  # a damaged template: made again from scratch, once
        shutil.rmtree(template, ignore_errors=True)
        _update_template(template, lessons, config_text)
    shutil.copytree(template, course, ignore=shutil.ignore_patterns(MANIFEST))
    (course / "course-grade.log").touch()
    snapshots = {}
    for lesson in lessons:
        digest = _copy_submission(lesson, course / "submitted" / LEARNER / lesson.name)
        if digest is not None:
            snapshots[lesson.name] = digest
    return snapshots


def _update_template(template: Path, lessons: Sequence[Lesson], config_text: str) -> None:
    """The course every run copies: the config, ``solutions/`` and the gradebook after
    ``generate_assignment``, kept in ``progress/`` and generated again only for a lesson
    whose instructor folder (or the config) changed: generating costs about a second per
    lesson, more on a busy machine."""
    manifest_path = template / MANIFEST
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = {}
    if manifest.get("config") != _sha256(config_text.encode()):
        shutil.rmtree(template, ignore_errors=True)
        manifest = {"config": _sha256(config_text.encode()), "lessons": {}}
    template.mkdir(parents=True, exist_ok=True)
    (template / CONFIG_FILE).write_text(config_text, encoding="utf-8")
    put_bin_on_path()  # nbgrader runs `alembic` when it creates the gradebook
    for lesson in lessons:
        key = _tree_sha256(lesson.source_dir)
        if manifest["lessons"].get(lesson.name) == key:
            continue
        manifest["lessons"].pop(lesson.name, None)
        manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
        shutil.rmtree(template / "solutions" / lesson.name, ignore_errors=True)
        shutil.copytree(lesson.source_dir, template / "solutions" / lesson.name, ignore=IGNORED)
        _generate(template, lesson.name)
        manifest["lessons"][lesson.name] = key
        manifest_path.write_text(json.dumps(manifest), encoding="utf-8")


def _tree_sha256(folder: Path) -> str:
    """One hash of every file's path and bytes under ``folder`` (checkpoints left out)."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if path.is_file() and not {".ipynb_checkpoints", "__pycache__"} & set(relative.parts):
            digest.update(str(relative).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _generate(course: Path, name: str) -> None:
    config = load_course_config(course)
    coursedir = CourseDirectory(config=config)
    coursedir.assignment_id = name
    converter = GenerateAssignment(coursedir=coursedir, config=config)
    converter.force = True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SAWarning)
        result = capture_log(converter)
    if not result["success"]:
        raise SelfGradeError(
            f"{name}: nbgrader generate_assignment failed: {result.get('error', '')}".strip()
        )


def _copy_submission(lesson: Lesson, dest: Path) -> str | None:
    """Copy the learner's lesson folder (notebook read once, its bytes hashed) to ``dest``;
    None when the learner has no notebook for it. Links and checkpoints are left out, and
    nothing of the learner's is written: not even its access time matters."""
    source = learner_notebook(lesson)
    try:
        data = source.read_bytes()
    except OSError:
        return None
    dest.mkdir(parents=True)
    for path in sorted(lesson.release_dir.rglob("*")):
        relative = path.relative_to(lesson.release_dir)
        if path.is_symlink() or ".ipynb_checkpoints" in relative.parts or path == source:
            continue
        if path.is_dir():
            (dest / relative).mkdir(parents=True, exist_ok=True)
        elif path.is_file():
            (dest / relative).parent.mkdir(parents=True, exist_ok=True)
            (dest / relative).write_bytes(path.read_bytes())
    (dest / source.name).write_bytes(data)
    return _sha256(data)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _run_course_grade(
    course: Path, scratch: Path, names: list[str], on_lesson: Callable[[str], None]
) -> dict[str, Result]:
    """``course grade`` on the temporary course, its output in ``course-grade.log``."""
    parser = argparse.ArgumentParser()
    grading_cli.add_arguments(parser)
    args = parser.parse_args(
        [*names, "--course-dir", str(course), "--scratch-dir", str(scratch), "--force"]
    )
    results: dict[str, Result] = {}

    def finished(result: Result) -> None:
        results[result.job.assignment] = result
        on_lesson(result.job.assignment)

    with (
        open(course / "course-grade.log", "a", encoding="utf-8") as out,
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(out),
    ):
        code = grading_cli.run(args, on_result=finished)
    if code == 2:  # the grader could not start: its message is in the log
        text = (course / "course-grade.log").read_text(encoding="utf-8", errors="replace")
        raise SelfGradeError(f"course grade could not start:\n{text.strip()}")
    return results


# ----------------------------------------------------------------------------- results


def _missing(lesson: Lesson) -> LessonRecord:
    return LessonRecord(
        lesson.name,
        lesson.name,
        now(),
        "",
        0,
        0,
        error=f"no notebook at notebooks/{lesson.name}/{lesson.name}.ipynb",
    )


def _record(
    course: Path, lesson: Lesson, digest: str, result: Result | None, state: StateDir
) -> LessonRecord:
    """The learner's record of one graded lesson, and its feedback page in ``state``."""
    name = lesson.name
    release = nbformat.read(course / "notebooks" / name / f"{name}.ipynb", as_version=4)
    record = LessonRecord(name, _title(release, name), now(), digest, 0, 0)
    if result is None or result.error:
        record.error = (result.error if result else None) or "not graded (see last-run.log)"
        return record
    record.score, record.max_score, record.notes = result.score, result.max_score, result.notes
    autograded = course / "autograded" / LEARNER / name / f"{name}.ipynb"
    graded_nb = nbformat.read(autograded, as_version=4)
    titles = _exercise_titles(release)
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", _course_id(course)) as gb:
        notebook = gb.find_submission_notebook(name, name, LEARNER)
        grades = {grade.name: grade for grade in notebook.grades}
        for grade_id in titles:
            grade = grades.get(grade_id)
            if grade is None:
                continue
            score, possible = float(grade.score), float(grade.max_score)
            message = ""
            if grade.needs_manual_grade:
                message = "a teacher would grade this test by hand: see the note at the top"
            elif score < possible:
                message = check_message(graded_nb, grade_id)
            record.checks.append(
                Check(
                    grade_id, titles[grade_id], score, possible, message, grade.needs_manual_grade
                )
            )
    secrets = _secrets(course, lesson, release)
    for check in record.checks:  # a message that quotes a hidden test is not shown
        if find_leaks(check.message, secrets):
            check.message = "(this check's message quotes the hidden tests: not shown)"
    try:
        record.feedback = _publish_feedback(course, lesson, secrets, state)
    except RuntimeError as error:
        record.notes.append(f"No feedback page for this lesson: {error}.")
    return record


def check_message(nb: NotebookNode, grade_id: str) -> str:
    """Why test cell ``grade_id`` of an autograded notebook lost points: its error as the
    feedback page shows it (``CheckFailed: ...``, every line), or, when the exercise's
    answer cell failed first, that (:func:`course.report.failure_message`)."""
    cell = cells_by_id(nb).get(grade_id)
    answer_failed = any(
        grade_id in tests and _error_of(cells_by_id(nb)[answer])
        for answer, tests in exercises(nb).items()
    )
    error = _error_of(cell) if cell is not None else None
    if error is None or answer_failed:
        return failure_message(nb, grade_id)
    return message_of(error)


def _error_of(cell: NotebookNode) -> NotebookNode | None:
    return next((o for o in cell.get("outputs", []) if o.get("output_type") == "error"), None)


def _secrets(course: Path, lesson: Lesson, release: NotebookNode) -> set[str]:
    """The lines of the lesson's hidden tests and solutions the learner did not write."""
    public = [release]
    try:
        path = course / "submitted" / LEARNER / lesson.name / f"{lesson.name}.ipynb"
        public.append(nbformat.read(path, as_version=4))
    except (OSError, ValueError):  # not a notebook: it quotes nothing
        pass
    return secret_lines(nbformat.read(lesson.source_notebook, as_version=4), public)


def _publish_feedback(course: Path, lesson: Lesson, secrets: set[str], state: StateDir) -> str:
    """Write the lesson's feedback page into ``state`` and return its file name; RuntimeError
    when nbgrader could not make it or it would show a secret (it is then not written)."""
    name = lesson.name
    target = state.feedback_dir / f"{name}.html"
    target.unlink(missing_ok=True)
    text = write_feedback(course, name, LEARNER).read_text(encoding="utf-8")
    if find_leaks(text, secrets):
        raise RuntimeError("it would show lines of the hidden tests or the solutions")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return target.name


def _course_id(course: Path) -> str:
    return load_course_config(course).CourseDirectory.course_id


def _heading(source: str) -> str | None:
    line = first_line(source)
    return line.lstrip("#").strip() if line.startswith("#") else None


def _title(nb: NotebookNode, default: str) -> str:
    """The lesson's title: the first heading of the learner notebook."""
    for cell in nb.cells:
        if cell.cell_type == "markdown" and (text := _heading(cell.source)):
            return text
    return default


def _exercise_titles(nb: NotebookNode) -> dict[str, str]:
    """grade_id of each test cell -> the exercise it belongs to (the heading above it that
    names an exercise, "(3 points)" left out), in notebook order."""
    titles, exercise = {}, None
    for cell in nb.cells:
        if cell.cell_type == "markdown" and (text := _heading(cell.source)):
            if "exercise" in text.lower():
                # "5. Exercise 1 — Count the calls (2 points)" -> "Exercise 1 — Count the calls"
                text = re.sub(r"^\d+\.\s*", "", text)
                exercise = re.sub(r"\s*\(\d+(\.\d+)? points?\)\s*$", "", text)
        gid = grade_id_of(cell)
        if cell.cell_type == "code" and is_graded(cell) and gid:
            titles[gid] = exercise or gid
    return titles
