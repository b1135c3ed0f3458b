"""What the tests of ``course grade`` share: a generated copy of the fixture course, the
submissions graded in it, running ``course grade`` and reading the grades back."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from course.cli import main as course_main
from course.config import CONFIG_FILE, load_course_config
from course.corpus import (
    Submission,
    delete_cell,
    full_marks,
    load_corpus,
    place_submissions,
)
from course.lessons import find_lessons

REPO = Path(__file__).resolve().parents[2]


FIXTURE_COURSE = REPO / "tests" / "pipeline" / "fixtures" / "course"


FIXTURE = find_lessons(FIXTURE_COURSE)[
    0
]  # 00_fixture: square (test 1 point), mean (tests 2 + 1 points)


FIXTURE_CASES = load_corpus(FIXTURE_COURSE / "tests" / "corpus" / f"{FIXTURE.name}.py")


LESSON_00 = find_lessons(REPO, ["00_layers_calls_variables"])[0]


def nbgrader(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """This environment's ``nbgrader`` command in ``cwd`` (venv bin on PATH for `alembic`)."""
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(
        [str(bin_dir / "nbgrader"), *args], cwd=cwd, env=env, capture_output=True, text=True
    )


def generated_course(root: Path, lesson) -> Path:
    """A course at ``root`` with ``lesson``'s config and source, after generate_assignment."""
    root.mkdir(parents=True)
    shutil.copy(lesson.root / CONFIG_FILE, root / CONFIG_FILE)
    shutil.copytree(lesson.source_dir, root / "solutions" / lesson.name)
    result = nbgrader("generate_assignment", lesson.name, cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr
    return root


#: The time limits count CPU time (course/grading/steps/cpu_time.py); their wall-clock ceiling is
#: put far away, so that a busy machine never reaches it here (no notebook here sleeps).
WALL_CEILING_CONFIG = "c.RestartingExecute.wall_limit_factor = 30"


def course_with(template: Path, dest: Path, lesson, cases, config: str = "") -> Path:
    """A copy of ``template`` at ``dest`` with ``cases`` submitted and ``config`` appended
    (after :data:`WALL_CEILING_CONFIG`)."""
    shutil.copytree(template, dest)
    with open(dest / CONFIG_FILE, "a", encoding="utf-8") as handle:
        handle.write("\n" + WALL_CEILING_CONFIG + "\n" + config + "\n")
    place_submissions(
        dest, lesson.name, list(cases), lesson.release_notebook, lesson.source_notebook
    )
    return dest


def course_grade(course: Path, *args: str, capsys: pytest.CaptureFixture) -> tuple[int, str]:
    capsys.readouterr()
    code = course_main(
        [
            "grade",
            "--course-dir",
            str(course),
            "--scratch-dir",
            str(course.parent / "scratch"),
            *args,
        ]
    )
    out = capsys.readouterr()
    return code, out.out + out.err


def grades(course: Path, lesson) -> dict[str, dict[str, tuple]]:
    """student -> grade cell -> (score, auto_score, needs_manual_grade), from the gradebook."""
    course_id = load_course_config(course).CourseDirectory.course_id
    result = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id) as gb:
        for submission in gb.find_assignment(lesson.name).submissions:
            notebook = gb.find_submission_notebook(lesson.name, lesson.name, submission.student_id)
            result[submission.student_id] = {
                g.name: (float(g.score), g.auto_score, g.needs_manual_grade)
                for g in notebook.grades
            }
    return result


def points(course: Path, lesson) -> dict[str, dict[str, float]]:
    return {
        student: {cell: g[0] for cell, g in cells.items()}
        for student, cells in grades(course, lesson).items()
    }


def expected_points(cases, lesson) -> dict[str, dict[str, float]]:
    from course.cells import graded_points

    maximum = graded_points(nbformat.read(lesson.source_notebook, as_version=4))
    return {case.name: case.expected_points(maximum) for case in cases}


def autograded(course: Path, student: str, lesson) -> nbformat.NotebookNode:
    return nbformat.read(
        course / "autograded" / student / lesson.name / f"{lesson.name}.ipynb", as_version=4
    )


def notebook_text(nb: nbformat.NotebookNode) -> str:
    """Sources and output text of every cell of a notebook, or of one cell (what the
    learner's feedback shows)."""
    parts = []
    for cell in nb.cells if "cells" in nb else [nb]:
        parts.append(cell.source)
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            parts.append(str(output.get("data", {}).get("text/plain", "")))
            parts.append(f"{output.get('ename', '')}: {output.get('evalue', '')}")
    return "\n".join(parts)


SQUARE = "def square(x):\n    return x * x\n"


# Tries, and prints what happened: a learner's code must run on when an attempt fails.
TRY = """
def attempt(label, action):
    try:
        action()
        print(label + ": done")
    except Exception as error:
        print(label + ": " + type(error).__name__)
"""


def break_out(course: Path, port: int = 9) -> str:
    """A learner who knows where the course is (absolute paths) and tries everything."""
    from jupyter_core.paths import jupyter_runtime_dir

    solutions = course / "solutions" / "00_fixture" / "00_fixture.ipynb"
    submission = course / "submitted" / "correct" / "00_fixture" / "00_fixture.ipynb"
    return (
        SQUARE
        + TRY
        + (
            "import os, signal\n"
            f"attempt('read solutions', lambda: open({str(solutions)!r}).read())\n"
            f"attempt('list solutions', lambda: os.listdir({str(solutions.parent)!r}))\n"
            f"attempt('read gradebook', lambda: open({str(course / 'gradebook.db')!r}, "
            "'rb').read())\n"
            f"attempt('write gradebook', lambda: open({str(course / 'gradebook.db')!r}, "
            "'ab').write(b'x'))\n"
            f"attempt('write course', lambda: open({str(course / 'escaped.txt')!r}, "
            "'w').write('x'))\n"
            "attempt('read submissions', lambda: "
            f"open({str(submission)!r}).read())\n"
            "attempt('write tmp', lambda: open('/tmp/course-grade-escaped.txt', 'w').write('x'))\n"
            "attempt('grader cwd', lambda: os.readlink(f'/proc/{os.getppid()}/cwd'))\n"
            "attempt('signal grader', lambda: os.kill(os.getppid(), signal.SIGTERM))\n"
            "attempt('scratch file', lambda: open('notes.txt', 'w').write('mine'))\n"
            "attempt('read python', lambda: open(os.__file__).read())\n"
            "attempt('write shm', lambda: open('/dev/shm/course-grade-escaped.txt', "
            "'w').write('x'))\n"
            "attempt('write dev', lambda: open('/dev/course-grade-escaped.txt', 'w').write('x'))\n"
            "attempt('write dev null', lambda: open('/dev/null', 'w').write('x'))\n"
            "import socket\n"
            f"attempt('connect', lambda: socket.create_connection(('127.0.0.1', {port}), "
            "timeout=5))\n"
            "def token():\n"
            "    if 'JUPYTERHUB_API_TOKEN' in os.environ: raise RuntimeError('token leaked')\n"
            "attempt('grader token', token)\n"
            "import glob\n"
            "def connection_files():\n"
            "    mine = os.path.dirname(os.path.dirname(os.getcwd()))\n"
            "    found = [f for f in glob.glob(os.path.join(os.path.dirname(mine), "
            "'course-grade-*', 'kernel-*.json'))\n"
            "             if not f.startswith(mine + os.sep)]\n"
            f"    found += glob.glob(os.path.join({jupyter_runtime_dir()!r}, '*.json'))\n"
            "    assert found, 'no other kernel to spy on'\n"
            "    for f in found: open(f).read()\n"
            "attempt('connection files', connection_files)\n"
        )
    )


# Learner notebooks nbgrader itself can grade, with their (nbgrader-given) points.
GRADABLE = [
    Submission(
        "infinite-loop",
        answers={"square": "def square(x):\n    while True:\n        pass"},
        expected=full_marks(except_={"test_square": 0}),
    ),
    Submission(
        "raises",
        answers={"mean": "raise ValueError('a bug in my cell')"},
        expected=full_marks(except_={"test_mean": 0, "test_mean_empty": 0}),
    ),
    Submission(
        "missing-module",
        answers={"square": "import no_such_module_xyz\n" + SQUARE},
        expected=full_marks(except_={"test_square": 0}),
    ),
    Submission(
        "deletes-test",
        transform=delete_cell("test_mean"),
        expected=full_marks(except_={"test_mean": 0}),
    ),
]
