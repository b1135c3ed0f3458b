"""``course grade``: parallel autograding with nbgrader's own steps.

Mostly on the fixture course (no TensorFlow: a kernel starts in about a second), plus one
comparison with ``nbgrader autograde`` on the real lesson 00 (warm TensorFlow kernels).
Every test grades a fresh copy of a course in which ``nbgrader generate_assignment`` has
run once (the gradebook knows the assignment).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import nbformat
import psutil
import pytest
from nbgrader.api import Gradebook

from course.cells import grade_id_of
from course.cli import SUBCOMMANDS
from course.cli import main as course_main
from course.config import CONFIG_FILE, load_course_config
from course.corpus import (
    Submission,
    delete_cell,
    edit_cell,
    full_marks,
    lesson_corpus,
    load_corpus,
    no_marks,
    place_submissions,
)
from course.grading.warmup import WarmKernelPlan, warmup_code, warmup_plan
from course.isolation.cgroups import controller_folder
from course.isolation.kernels import box_available
from course.isolation.landlock import landlock_abi
from course.lessons import find_lessons

pytestmark = pytest.mark.pipeline

REPO = Path(__file__).resolve().parents[2]
FIXTURE_COURSE = REPO / "tests" / "pipeline" / "fixtures" / "course"
FIXTURE = find_lessons(FIXTURE_COURSE)[
    0
]  # 00_fixture: square (test 1 point), mean (tests 2 + 1 points)
FIXTURE_CASES = load_corpus(FIXTURE_COURSE / "tests" / "corpus" / f"{FIXTURE.name}.py")
LESSON_00 = find_lessons(REPO, ["00_layers_calls_variables"])[0]


# ------------------------------------------------------------------------ helpers


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


@pytest.fixture(scope="module")
def fixture_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generated_course(tmp_path_factory.mktemp("template") / "course", FIXTURE)


#: The time limits count CPU time (course/grading/cpu_time.py); their wall-clock ceiling is
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


def progress_students(out: str) -> list[str]:
    """The students of the progress lines (``[ 3/35] alice/00_fixture  4/4  (1.2 s)``)."""
    return [m.group(1) for m in re.finditer(r"^\[\s*\d+/\d+[^\]]*\] ([^/\s]+)/", out, re.MULTILINE)]


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


# --------------------------------------------------------------------- submissions


def _edit_square_test_and_delete_mean_test(nb: nbformat.NotebookNode) -> None:
    edit_cell("test_square", "pass")(nb)
    delete_cell("test_mean")(nb)


def _metadata_from_the_future(nb: nbformat.NotebookNode) -> None:
    for cell in nb.cells:
        if "nbgrader" in cell.metadata:
            cell.metadata.nbgrader["schema_version"] = 99


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
# Relative paths from where nbgrader runs the notebook (autograded/<student>/<assignment>/).
ESCAPES = (
    SQUARE
    + TRY
    + (
        "import os\nattempt('stray file', lambda: open('stray.txt', 'w').write('left in the "
        "working folder'))\nattempt('two folders up', lambda: open(os.path.join('..', '..', "
        "'escaped.txt'), 'w').write('up'))\nattempt('solutions', lambda: "
        "open('../../../solutions/00_fixture/00_fixture.ipynb').read())\nprint('HOME is "
        "scratch:', os.environ['HOME'].startswith(os.path.dirname(os.getcwd())))\n"
    )
)


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
# ... and ones only `course grade` grades (nbgrader stops on them or the kernel dies).
TAMPERED = [
    Submission(
        "ignores-interrupt",
        answers={
            "square": "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
            "while True:\n    pass"
        },
        expected=no_marks(),
    ),
    # RLIMIT_DATA: the allocation fails with MemoryError in the cell, the kernel lives on.
    Submission(
        "memory-bomb",
        answers={"square": SQUARE + "hog = [bytearray(2**20) for _ in range(10**5)]"},
        expected=full_marks(),
    ),
    # Shared memory escapes RLIMIT_DATA: the watchdog kills the kernel.
    Submission(
        "shared-memory-bomb",
        answers={
            "square": "import mmap\nm = mmap.mmap(-1, 2**31)\n"
            "for i in range(0, 2**31, 4096):\n    m[i] = 1"
        },
        expected=no_marks(),
    ),
    Submission("exits", answers={"square": "import os\nos._exit(3)"}, expected=no_marks()),
    Submission(
        "floods-output",
        answers={"square": SQUARE + "for _ in range(3000):\n    print('x' * 1000)"},
        expected=full_marks(),
    ),
    Submission("escapes", answers={"square": ESCAPES}, expected=full_marks()),
    Submission("not-a-notebook", transform=lambda nb: '{"cells": 5}', expected=no_marks()),
    # `nbgrader autograde` stops the whole run here: the learners after this one stay ungraded.
    Submission("newer-metadata", transform=_metadata_from_the_future, expected=no_marks()),
]
ROBUSTNESS_CONFIG = "\n".join(
    [
        "c.Execute.timeout = 2",
        "c.Execute.iopub_timeout = 2",
        "c.GradingExecute.output_limit = 2**20",
    ]
)


# --------------------------------------------------------------------------- tests


def test_grade_is_a_course_subcommand():
    assert SUBCOMMANDS["grade"][0] == "course.grading.cli"


def test_kit_config_reaches_nbgrader_execute():
    """The kit's time limit and missing-cell policy are what nbgrader's classes read."""
    from nbgrader.preprocessors import Execute, OverwriteCells

    config = load_course_config(REPO)
    assert Execute(config=config).timeout == 120
    assert "allowed per cell" in Execute(config=config).error_on_timeout["traceback"][0]
    assert OverwriteCells(config=config).add_missing_cells is True


def test_warmup_plan_reads_setup_cells_only():
    nb = nbformat.read(LESSON_00.source_notebook, as_version=4)
    env, modules = warmup_plan(nb)
    assert dict(env) == {"TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"}
    # The imports of the lesson's own cells (setup and demonstrations: h5py reads a weights
    # file) and the test cells' `from helpers.grading import pristine`; nothing from the
    # solution cells (learners write those).
    # (The setup cells are backend-neutral: `import keras` brings in the backend, TensorFlow.)
    assert modules == (
        "os",
        "logging",
        "numpy",
        "keras",
        "helpers",
        "tempfile",
        "h5py",
        "helpers.grading",
    )
    code = warmup_code(WarmKernelPlan("python3", "x", env, modules))
    compile(code, "<warmup>", "exec")  # valid Python
    assert "keras" in code and "import_module" in code


def test_same_grades_as_nbgrader_autograde(fixture_template, tmp_path, capsys):
    cases = FIXTURE_CASES + GRADABLE
    serial = course_with(
        fixture_template, tmp_path / "serial", FIXTURE, cases, "c.Execute.timeout = 2"
    )
    parallel = course_with(
        fixture_template, tmp_path / "parallel", FIXTURE, cases, "c.Execute.timeout = 2"
    )

    nbgrader("autograde", FIXTURE.name, cwd=serial)
    code, out = course_grade(parallel, "--workers", "2", capsys=capsys)
    assert code == 0, out

    by_nbgrader, by_course_grade = grades(serial, FIXTURE), grades(parallel, FIXTURE)
    assert set(by_course_grade) == {c.name for c in cases}
    ungradable = {c.name for c in cases if c.grading_fails}
    for student in by_course_grade:
        if (
            student in ungradable
        ):  # nbgrader leaves its grades unset (score 0); course grade records 0
            assert {cell: g[0] for cell, g in by_nbgrader[student].items()} == {
                cell: g[0] for cell, g in by_course_grade[student].items()
            }
            assert all(g[1] == 0 and not g[2] for g in by_course_grade[student].values())
        else:
            assert by_course_grade[student] == by_nbgrader[student], student
    assert points(parallel, FIXTURE) == expected_points(cases, FIXTURE)

    # nbgrader's own next steps work on course grade's results.
    feedback = nbgrader("generate_feedback", FIXTURE.name, cwd=parallel)
    assert feedback.returncode == 0, feedback.stdout + feedback.stderr
    for case in cases:
        assert (
            parallel / "feedback" / case.name / FIXTURE.name / f"{FIXTURE.name}.html"
        ).is_file(), case.name
    export = nbgrader("export", cwd=parallel)
    assert export.returncode == 0, export.stdout + export.stderr
    assert len((parallel / "grades.csv").read_text().splitlines()) == 1 + len(cases)
    assert not (parallel / ".course-grade").exists(), "the work folder is removed after a run"


def test_same_grades_as_nbgrader_autograde_on_lesson_00(tmp_path_factory, capsys):
    """The real thing: TensorFlow kernels warmed up ahead of time give nbgrader's grades."""
    cases = lesson_corpus(LESSON_00)[:3]  # correct, untouched, a wrong answer
    template = generated_course(tmp_path_factory.mktemp("lesson00") / "template", LESSON_00)
    serial = course_with(template, template.parent / "serial", LESSON_00, cases)
    parallel = course_with(template, template.parent / "parallel", LESSON_00, cases)

    result = nbgrader("autograde", LESSON_00.name, cwd=serial)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    code, out = course_grade(parallel, "--workers", "2", capsys=capsys)
    assert code == 0, out
    assert "could not preload" not in out, out
    assert grades(parallel, LESSON_00) == grades(serial, LESSON_00)
    assert points(parallel, LESSON_00) == expected_points(cases, LESSON_00)
    for case in cases:
        text = notebook_text(autograded(parallel, case.name, LESSON_00))
        missing = [message for message in case.feedback_contains if message not in text]
        assert not missing, f"{case.name}: {missing}"


def test_many_learners_two_workers_no_lost_or_duplicated_grades(fixture_template, tmp_path, capsys):
    cases = [replace(case, name=f"{case.name}-{i}") for i in range(5) for case in FIXTURE_CASES]
    course = course_with(fixture_template, tmp_path / "course", FIXTURE, cases)
    code, out = course_grade(course, "--workers", "2", "--warm", "2", capsys=capsys)
    assert code == 0, out

    assert sorted(progress_students(out)) == sorted(c.name for c in cases)
    executed = sum(not c.grading_fails for c in cases)  # the invalid notebooks need no kernel
    assert f"2 workers, {executed} kernels" in out, "every kernel started was used"
    assert points(course, FIXTURE) == expected_points(cases, FIXTURE)
    assert all(
        g[1] is not None for cells in grades(course, FIXTURE).values() for g in cells.values()
    )
    with sqlite3.connect(course / "gradebook.db") as db:
        (students,) = db.execute("select count(*) from student").fetchone()
        (submissions,) = db.execute("select count(*) from submitted_assignment").fetchone()
        (rows,) = db.execute("select count(*) from grade").fetchone()
        duplicates = db.execute(
            "select notebook_id, cell_id, count(*) from grade group by notebook_id, cell_id "
            "having count(*) > 1"
        ).fetchall()
    assert (students, submissions, rows, duplicates) == (len(cases), len(cases), 3 * len(cases), [])
    assert sorted(p.name for p in (course / "autograded").iterdir()) == sorted(
        c.name for c in cases
    )


def test_killed_run_resumes_and_grades_each_learner_once(fixture_template, tmp_path, capsys):
    cases = [replace(case, name=f"{case.name}-{i}") for i in range(2) for case in FIXTURE_CASES]
    course = course_with(fixture_template, tmp_path / "course", FIXTURE, cases)
    scratch = tmp_path / "scratch"
    command = [
        sys.executable,
        "-m",
        "course.cli",
        "grade",
        "--course-dir",
        str(course),
        "--scratch-dir",
        str(scratch),
        "--workers",
        "2",
    ]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    graded_first = []
    for line in first.stdout:
        graded_first += progress_students(line)
        if len(graded_first) == 3:
            first.send_signal(signal.SIGKILL)  # mid-run: other notebooks are executing
            break
    first.wait()
    first.stdout.close()
    assert first.returncode == -signal.SIGKILL
    killed_scratch = list(scratch.glob(f"course-grade-{first.pid}-*"))
    assert killed_scratch, "the killed run had kernels in scratch folders"

    code, out = course_grade(course, "--workers", "2", capsys=capsys)
    assert code == 0, out
    graded_again = progress_students(out)
    assert not set(graded_first) & set(graded_again), (
        "a learner graded by the killed run was graded again"
    )
    skipped = int(out.split(" already graded (skipped)")[0].rsplit(" ", 1)[-1])
    assert skipped + len(graded_again) == len(cases) and skipped >= len(graded_first)
    assert points(course, FIXTURE) == expected_points(cases, FIXTURE)
    with sqlite3.connect(course / "gradebook.db") as db:
        assert db.execute("select count(*) from submitted_assignment").fetchone() == (len(cases),)
        assert db.execute("select count(*) from grade").fetchone() == (3 * len(cases),)
    assert sorted(p.name for p in (course / "autograded").iterdir()) == sorted(
        c.name for c in cases
    )
    # The killed run's kernels exited on their own (ipykernel watches its parent) and
    # this run removed their scratch folders.
    assert not [p for p in psutil.process_iter(["cwd"]) if str(scratch) in (p.info["cwd"] or "")]
    assert not any(folder.exists() for folder in killed_scratch)


def test_broken_slow_and_tampered_notebooks_are_graded_with_a_message(
    fixture_template, tmp_path, capsys
):
    by_name = {case.name: case for case in FIXTURE_CASES}
    cases = [
        by_name["correct"],
        by_name["invalid_json"],
        by_name["edits_locked_test"],
        *GRADABLE,
        *TAMPERED,
    ]
    course = course_with(fixture_template, tmp_path / "course", FIXTURE, cases, ROBUSTNESS_CONFIG)
    code, out = course_grade(course, "--workers", "2", "--memory-limit", "300M", capsys=capsys)
    assert code == 0, out
    assert points(course, FIXTURE) == expected_points(cases, FIXTURE), out

    notes = {
        "invalid_json": "`00_fixture.ipynb` is not a notebook: its content is not valid JSON",
        "not-a-notebook": "`00_fixture.ipynb` is not a valid notebook (TypeError",
        "newer-metadata": "could not be graded: nbgrader rejected it (SchemaTooNewError",
        "edits_locked_test": (
            "You edited read-only cell(s) `test_square`; the original was put back"
        ),
        "infinite-loop": (
            "Cell 5 (`test_square`) ran longer than the time limit for one cell (2 s) and was "
            "interrupted"
        ),
        "deletes-test": (
            "Graded cell(s) `test_mean` were missing from your notebook, so they score 0"
        ),
        "ignores-interrupt": (
            "stopped your notebook in cell 4 (`square`): it ran longer than 2 s and could not be "
            "interrupted"
        ),
        "memory-bomb": "Cell 4 (`square`) ran out of memory (the grading limit is 300 MiB)",
        "shared-memory-bomb": (
            "stopped your notebook in cell 4 (`square`): it used more than 300 MiB of memory"
        ),
        "exits": "stopped your notebook in cell 4 (`square`): the Python kernel stopped",
        "floods-output": "printed too much output",
    }
    for student, note in notes.items():
        first_cell = autograded(course, student, FIXTURE).cells[0]
        assert note in first_cell.source, f"{student}: {first_cell.source}"
        assert note in out, f"{student}: the teacher's summary lacks the note"
    assert "Notes from the grader" not in autograded(course, "correct", FIXTURE).cells[0].source

    # The cells after a stopped kernel say why they did not run; the feedback shows it.
    exits = autograded(course, "exits", FIXTURE)
    test_mean = next(c for c in exits.cells if grade_id_of(c) == "test_mean")
    assert "Not run: the grader stopped the kernel in cell 4" in notebook_text(test_mean)
    assert "No module named 'no_such_module_xyz'" in notebook_text(
        autograded(course, "missing-module", FIXTURE)
    )
    assert "a bug in my cell" in notebook_text(autograded(course, "raises", FIXTURE))

    # Containment: the notebook ran in a scratch folder, not in the course.
    escapes = notebook_text(autograded(course, "escapes", FIXTURE))
    assert "solutions: FileNotFoundError" in escapes and "HOME is scratch: True" in escapes
    assert "stray file: done" in escapes
    assert [p.name for p in (course / "autograded" / "escapes" / FIXTURE.name).iterdir()] == [
        f"{FIXTURE.name}.ipynb"
    ]
    assert not list(course.rglob("escaped.txt")) and not list(course.rglob("stray.txt"))

    feedback = nbgrader("generate_feedback", FIXTURE.name, cwd=course)
    assert feedback.returncode == 0, feedback.stdout + feedback.stderr
    html = (
        course / "feedback" / "shared-memory-bomb" / FIXTURE.name / f"{FIXTURE.name}.html"
    ).read_text()
    assert "it used more than 300 MiB of memory" in html


@pytest.mark.skipif(
    landlock_abi() < 6 and not os.environ.get("CI"), reason="needs Linux 6.12+ with Landlock"
)
def test_sandbox_keeps_the_notebook_out_of_the_course_and_the_grader(
    fixture_template, tmp_path, capsys, monkeypatch
):
    """A notebook that knows the course's absolute path reads, writes and signals nothing
    outside its scratch folder; it is graded like the others (CI: Landlock is required)."""
    import socket

    course = tmp_path / "course"
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]
    cases = [
        FIXTURE_CASES[0],
        Submission(
            "breaks-out", answers={"square": break_out(course, port)}, expected=full_marks()
        ),
        *FIXTURE_CASES[1:3],  # other kernels whose connection files it tries to read
    ]
    course_with(fixture_template, course, FIXTURE, cases)
    gradebook = (course / "gradebook.db").read_bytes()
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "a-secret-token")
    with server:
        code, out = course_grade(course, "--workers", "2", capsys=capsys)
    assert code == 0, out
    assert points(course, FIXTURE) == expected_points(cases, FIXTURE)

    text = notebook_text(autograded(course, "breaks-out", FIXTURE))
    outcomes = dict(
        line.split(": ", 1) for line in text.splitlines() if line.endswith(("done", "Error"))
    )
    if box_available():
        assert "kernels run boxed" in out, out
        # Nothing of the course exists in the box; its /tmp and /dev/shm are its own, its
        # root read-only; it has no parent to find (pid 1 of its own PID namespace).
        assert outcomes == {
            "read solutions": "FileNotFoundError",
            "list solutions": "FileNotFoundError",
            "read gradebook": "FileNotFoundError",
            # The course's matplotlib cache is shown (read-only): the folders on the way
            # there exist in the box, read-only, and empty.
            "write gradebook": "OSError",
            "write course": "OSError",
            "read submissions": "FileNotFoundError",
            "write tmp": "done",  # its private /tmp (checked below: not the host's)
            "grader cwd": "FileNotFoundError",
            "signal grader": "done",  # os.getppid() is 0: it signalled its own group
            "scratch file": "done",
            "read python": "done",
            "write shm": "done",  # its private /dev/shm
            "write dev": "OSError",  # read-only file system
            "write dev null": "done",
            "connect": "PermissionError",
            "grader token": "done",  # not in the kernel's environment
            "connection files": "AssertionError",  # no other kernel's: none in the box
        }, text
    else:
        assert "Landlock rules" in out and str(course) in out, out
        assert outcomes == {
            "read solutions": "PermissionError",
            "list solutions": "done",  # names only; listing stays allowed
            "read gradebook": "PermissionError",
            "write gradebook": "PermissionError",
            "write course": "PermissionError",
            "read submissions": "PermissionError",
            "write tmp": "PermissionError",
            "grader cwd": "PermissionError",
            "signal grader": "PermissionError",
            "scratch file": "done",
            "read python": "done",
            "write shm": "PermissionError",
            "write dev": "PermissionError",
            "write dev null": "done",
            "connect": "PermissionError",
            "grader token": "done",  # not in the kernel's environment
            "connection files": "PermissionError",
        }, text
    assert (
        not (course / "escaped.txt").exists() and not Path("/tmp/course-grade-escaped.txt").exists()
    )
    assert not Path("/dev/shm/course-grade-escaped.txt").exists()
    assert (course / "gradebook.db").read_bytes() != gradebook  # grades were written, by the grader


def daemons(marker: str) -> str:
    """Learner code that leaves processes behind: a child in a new session and a
    double-forked daemon (orphaned at once), both running until killed. Each says
    "ready" through a pipe once it runs; the cell prints how many did."""
    loop = (
        "import os, sys, time\nos.write(int(sys.argv[1]), b'r')\nwhile True: time.sleep(1)  # "
        f"{marker}"
    )
    return SQUARE + (
        "import os, subprocess, sys\nread, write = os.pipe()\nos.set_inheritable(write, "
        f"True)\nsubprocess.Popen([sys.executable, '-c', {loop!r}, str(write)], "
        "start_new_session=True, pass_fds=[write])\nif os.fork() == 0:\n    os.setsid()\n    if "
        f"os.fork() == 0:\n        os.execv(sys.executable, [sys.executable, '-c', {loop!r}, "
        "str(write)])\n    os._exit(0)\n_ = os.wait()\nos.close(write)\nready = b''\nwhile "
        "len(ready) < 2:\n    ready += os.read(read, 2 - len(ready))\nprint('daemons ready:', "
        "len(ready))\n"
    )


def marked_processes(marker: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if any(marker in part for part in process.info["cmdline"] or ()):
            found.append(process)
    return found


@pytest.mark.parametrize("sandbox", [True, False], ids=["sandbox", "no-sandbox"])
def test_processes_a_notebook_starts_die_with_its_kernel(
    fixture_template, tmp_path, capsys, sandbox
):
    from course.isolation.contain import cgroup_parent

    marker = f"course-grade-daemon-{os.getpid()}-{tmp_path.name}"
    cases = [
        Submission("leaves-daemons", answers={"square": daemons(marker)}, expected=full_marks()),
        FIXTURE_CASES[0],
    ]
    course = course_with(fixture_template, tmp_path / "course", FIXTURE, cases)
    try:
        code, out = course_grade(
            course, "--workers", "1", *([] if sandbox else ["--no-sandbox"]), capsys=capsys
        )
        assert code == 0, out
        assert points(course, FIXTURE) == expected_points(cases, FIXTURE)
        assert "daemons ready: 2" in notebook_text(autograded(course, "leaves-daemons", FIXTURE))
        # The process table after grading: nothing the notebook started is left.
        assert marked_processes(marker) == []
        parent = cgroup_parent()
        if parent is not None:
            assert not [p for p in parent.iterdir() if p.is_dir() and f"-{os.getpid()}-" in p.name]
    finally:
        for process in marked_processes(marker):
            process.kill()


def test_learner_text_reaches_the_console_with_control_characters_escaped(
    fixture_template, tmp_path, capsys
):
    """A kernel's last words (what its process wrote to its log, which the notebook can
    write to: the kernel's own standard error, which ipykernel keeps a copy of) appear in
    the teacher's console as text: no screen clear, no clipboard write, no overwritten
    characters."""
    attack = "\\x1b[2J\\x1b]52;c;ZXZpbA==\\x07\\x08fake: 4/4 all good"
    code = (
        "import os, sys\nlog = getattr(sys.stderr, '_original_stdstream_copy', None) or 2\n"
        f"os.write(log, '{attack}\\n'.encode())\nos._exit(1)"
    )
    cases = [Submission("clears-screen", answers={"square": code}, expected=no_marks())]
    course = course_with(fixture_template, tmp_path / "course", FIXTURE, cases)
    code, out = course_grade(course, capsys=capsys)
    assert code == 0, out
    assert points(course, FIXTURE) == expected_points(cases, FIXTURE)
    assert attack in out, out  # the escapes as text
    assert not any(char in out for char in "\x1b\x07\x08"), repr(out)


BUDGET_CONFIG = """
from course.grading.execute import autograde_preprocessors
c.Autograde.autograde_preprocessors = autograde_preprocessors()
c.Execute.timeout = 60
c.RestartingExecute.notebook_timeout = 3
"""


def test_a_notebook_gets_a_time_budget_in_both_graders(fixture_template, tmp_path, capsys):
    """A cell far below the limit per cell (60 s) is interrupted when the notebook's
    budget (3 s for all cells) runs out, and the cells after it are not run: 0 points,
    in nbgrader autograde with the kit's config and in course grade, with the same note."""
    cases = [
        Submission(
            "spends-budget",
            answers={"square": SQUARE + "while True:\n    pass"},
            expected=no_marks(),
        ),
        FIXTURE_CASES[0],
    ]
    serial = course_with(fixture_template, tmp_path / "serial", FIXTURE, cases, BUDGET_CONFIG)
    parallel = course_with(fixture_template, tmp_path / "parallel", FIXTURE, cases, BUDGET_CONFIG)
    result = nbgrader("autograde", FIXTURE.name, cwd=serial)
    assert result.returncode == 0, result.stdout + result.stderr
    code, out = course_grade(parallel, "--workers", "2", capsys=capsys)
    assert code == 0, out
    assert "(3 s per notebook)" in out
    assert points(serial, FIXTURE) == points(parallel, FIXTURE) == expected_points(cases, FIXTURE)

    for course in (serial, parallel):
        nb = autograded(course, "spends-budget", FIXTURE)
        test_mean = next(c for c in nb.cells if grade_id_of(c) == "test_mean")
        assert (
            "TimeBudgetExceeded: Not run: your notebook's cells used up their time budget (3 s"
            in notebook_text(test_mean)
        )
    # Both graders write the same note (plain nbgrader: RestartingExecute; course grade: its
    # report of the run).
    for course in (serial, parallel):
        note = autograded(course, "spends-budget", FIXTURE).cells[0].source
        assert (
            "Your notebook used up its time budget (3 s for all cells together) in cell 4 "
            "(`square`); the 5 cells after it were not run, so their tests score 0." in note
        ), note
        assert "time limit for one cell" not in note


def test_the_command_line_sets_the_time_budget(fixture_template, tmp_path, capsys):
    cases = [
        Submission(
            "spends-budget",
            answers={"square": SQUARE + "while True:\n    pass"},
            expected=no_marks(),
        )
    ]
    course = course_with(
        fixture_template, tmp_path / "course", FIXTURE, cases, "c.Execute.timeout = 60"
    )
    code, out = course_grade(course, "--notebook-timeout", "2", capsys=capsys)
    assert code == 0, out
    assert (
        "(2 s per notebook)" in out
        and "used up its time budget (2 s for all cells together)" in out
    )
    assert points(course, FIXTURE) == expected_points(cases, FIXTURE)


def _sets_backend_before_import(nb: nbformat.NotebookNode) -> None:
    """The learner's (unlocked) setup cell sets an environment variable a module reads
    when it is imported, then imports it; the answer depends on it."""
    nb.cells[1].source = (
        'import os\nos.environ["MPLBACKEND"] = "svg"\nimport matplotlib\n' + nb.cells[1].source
    )
    fill = next(c for c in nb.cells if grade_id_of(c) == "square")
    fill.source = 'assert matplotlib.get_backend() == "svg", matplotlib.get_backend()\n' + SQUARE


def test_a_setup_cell_that_sets_environment_gets_a_fresh_kernel(fixture_template, tmp_path, capsys):
    """course grade's warm kernels have imported the setup modules already (here
    matplotlib, --preload); a notebook whose editable cells set environment variables
    first is run in a fresh kernel instead, and both graders agree."""
    cases = [
        Submission("sets-backend", transform=_sets_backend_before_import, expected=full_marks()),
        FIXTURE_CASES[0],
    ]
    serial = course_with(fixture_template, tmp_path / "serial", FIXTURE, cases)
    parallel = course_with(fixture_template, tmp_path / "parallel", FIXTURE, cases)
    result = nbgrader("autograde", FIXTURE.name, cwd=serial)
    assert result.returncode == 0, result.stdout + result.stderr
    code, out = course_grade(parallel, "--workers", "1", "--preload", "matplotlib", capsys=capsys)
    assert code == 0, out
    assert points(serial, FIXTURE) == points(parallel, FIXTURE) == expected_points(cases, FIXTURE)


@pytest.mark.skipif(landlock_abi() < 1, reason="no Landlock here: the fallback is no isolation")
def test_no_box_is_said_out_loud(fixture_template, tmp_path, capsys, monkeypatch):
    """Where kernels get no box (here: asked for), the run's first lines say so plainly."""
    monkeypatch.setenv("KIT_ISOLATION", "landlock")
    course = course_with(fixture_template, tmp_path / "course", FIXTURE, FIXTURE_CASES[:1])
    code, out = course_grade(course, capsys=capsys)
    assert code == 0, out
    assert "NO BOX: KIT_ISOLATION=landlock asks for the fallback" in out, out
    assert points(course, FIXTURE) == expected_points(FIXTURE_CASES[:1], FIXTURE)


def test_no_sandbox_is_said_out_loud(fixture_template, tmp_path, capsys):
    course = course_with(fixture_template, tmp_path / "course", FIXTURE, FIXTURE_CASES[:1])
    code, out = course_grade(course, "--no-sandbox", capsys=capsys)
    assert code == 0, out
    assert "kernels NOT isolated (--no-sandbox)" in out
    assert points(course, FIXTURE) == expected_points(FIXTURE_CASES[:1], FIXTURE)


#: Every learner's first kernel stays silent (flaky_kernels in conftest.py); the kit's
#: config replaces nbgrader's Execute with course.grading.execute.RestartingExecute.
SILENT_FIRST_KERNEL = """
from course.grading.execute import autograde_preprocessors
c.Autograde.autograde_preprocessors = autograde_preprocessors()
c.Execute.kernel_name = "silent-1"
c.Execute.startup_timeout = 4
"""


def test_nbgrader_autograde_replaces_a_kernel_that_does_not_start(
    fixture_template, tmp_path, flaky_kernels
):
    cases = FIXTURE_CASES[:3]
    course = course_with(fixture_template, tmp_path / "course", FIXTURE, cases, SILENT_FIRST_KERNEL)
    result = nbgrader("autograde", FIXTURE.name, cwd=course)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log
    assert "There was an error processing" not in log
    assert log.count("The kernel did not start") == len(cases), log
    assert points(course, FIXTURE) == expected_points(cases, FIXTURE)
    for (
        case
    ) in cases:  # two kernels started in each learner's folder; the notebook ran in the second
        assert flaky_kernels.starts(course / "autograded" / case.name / FIXTURE.name) == 2


@pytest.mark.skipif(
    landlock_abi() < 6 and not os.environ.get("CI"), reason="needs Linux 6.12+ with Landlock"
)
def test_course_grade_replaces_a_kernel_that_does_not_start_in_the_sandbox(
    fixture_template, tmp_path, flaky_kernels, capsys
):
    """The kernel started in place of the silent one is sandboxed like the first."""
    course = tmp_path / "course"
    cases = [
        *FIXTURE_CASES[:2],
        Submission("breaks-out", answers={"square": break_out(course)}, expected=full_marks()),
    ]
    course_with(fixture_template, course, FIXTURE, cases, SILENT_FIRST_KERNEL)
    code, out = course_grade(course, "--workers", "2", capsys=capsys)
    assert code == 0, out
    assert "3 graded, 0 errors" in out and "Landlock rules" in out, out
    assert points(course, FIXTURE) == expected_points(cases, FIXTURE)
    text = notebook_text(autograded(course, "breaks-out", FIXTURE))
    assert "read solutions: PermissionError" in text and "signal grader: PermissionError" in text, (
        text
    )
    assert "scratch file: done" in text


def test_deleted_test_cell_is_put_back_when_the_course_asks(fixture_template, tmp_path, capsys):
    cases = [
        Submission(
            "deletes-passing-test", transform=delete_cell("test_mean"), expected=full_marks()
        ),
        Submission(
            "deletes-failing-test",
            answers={"mean": "def mean(values):\n    return 0"},
            transform=delete_cell("test_mean"),
            expected=full_marks(except_={"test_mean": 0, "test_mean_empty": 0}),
        ),
        Submission(
            "edits-and-deletes",
            transform=_edit_square_test_and_delete_mean_test,
            answers={"square": "def square(x):\n    return 0"},
            expected=full_marks(except_={"test_square": 0}),
        ),
    ]
    course = course_with(
        fixture_template,
        tmp_path / "course",
        FIXTURE,
        cases,
        "c.OverwriteCells.add_missing_cells = True",
    )
    code, out = course_grade(course, "--workers", "2", capsys=capsys)
    assert code == 0, out
    assert points(course, FIXTURE) == expected_points(cases, FIXTURE)
    assert (
        "`test_mean` were missing from your notebook; the grader added them back and ran them"
        in out
    )


def test_grading_kernels_import_the_setup_modules_ahead(fixture_template, tmp_path, capsys):
    """--preload: what warm kernels import; a module that does not exist is reported, the
    learners are still graded as nbgrader would."""
    course = course_with(fixture_template, tmp_path / "course", FIXTURE, FIXTURE_CASES[:2])
    code, out = course_grade(
        course, "--workers", "2", "--preload", "json,no_such_module_abc", capsys=capsys
    )
    assert code == 0, out
    assert "could not preload no_such_module_abc: ModuleNotFoundError" in out
    assert "2 workers, 2 kernels" in out, "each notebook got a kernel warmed up with the override"
    assert points(course, FIXTURE) == expected_points(FIXTURE_CASES[:2], FIXTURE)


def test_second_run_on_the_same_course_is_refused(fixture_template, tmp_path, capsys):
    import fcntl

    course = course_with(fixture_template, tmp_path / "course", FIXTURE, FIXTURE_CASES[:1])
    (course / ".course-grade").mkdir()
    with open(course / ".course-grade" / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        code, out = course_grade(course, capsys=capsys)
    assert code == 2 and "another `course grade` is grading" in out
    assert not (course / "autograded").exists()


def test_unknown_assignment_is_explained(fixture_template, tmp_path, capsys):
    course = course_with(fixture_template, tmp_path / "course", FIXTURE, FIXTURE_CASES[:1])
    code, out = course_grade(course, "99_nope", capsys=capsys)
    assert code == 2
    assert (
        "assignment '99_nope' is not in the gradebook" in out
        and "nbgrader generate_assignment 99_nope" in out
    )


def test_the_watchdog_reads_unique_memory_only_above_the_limit(monkeypatch):
    """A forked kernel's unique memory (USS, ``/proc/PID/smaps_rollup``) is costly to read;
    its resident memory (RSS) is cheap and never smaller. The watchdog reads the USS only
    when the RSS passes the limit, and judges by the USS then."""
    from course.grading.kernel import _resident_above

    reads = []
    real = psutil.Process.memory_full_info

    def counted(process):
        reads.append(process.pid)
        return real(process)

    monkeypatch.setattr(psutil.Process, "memory_full_info", counted)
    me = psutil.Process()
    rss = me.memory_info().rss
    assert _resident_above([me], rss * 2) is None
    assert reads == []
    uss = _resident_above([me], 1)
    assert reads == [me.pid] and 0 < uss <= rss * 2


#: A learner whose kernel is killed from outside while it runs: the cell names its process
#: (visible from outside the box) and sleeps, so the test knows when to strike. The name
#: carries this test process's pid: a test on the other pytest-xdist worker has its own
#: victim, which this one must never strike.
ASLEEP = f"victim{os.getpid()}"[:15]
VICTIM = SQUARE + f"open('/proc/self/comm', 'w').write({ASLEEP!r})\nimport time\ntime.sleep(15)\n"


def _own_victim(process: psutil.Process) -> list[psutil.Process] | None:
    """The ancestors of ``process`` if it is a living victim of this test's grader (this
    test process among them), else None. A victim of an earlier test keeps its name while
    it ends: killed with its keeper, it is handed to the machine's first process and may
    wait there as a zombie for a while; striking it would miss this test's kernel."""
    with contextlib.suppress(psutil.Error):
        if process.status() != psutil.STATUS_ZOMBIE:
            parents = process.parents()
            if any(parent.pid == os.getpid() for parent in parents):
                return parents
    return None


def kill_once(target: str) -> tuple[threading.Thread, list[str]]:
    """A thread that waits for the victim's kernel (a living one this test's grader
    started) and kills, once, either the kernel itself (SIGKILL: what the system's
    out-of-memory killer does) or its warm parent (SIGTERM: it ends, and its kernels with
    it)."""
    done: list[str] = []

    def strike() -> None:
        while not done:
            for process in psutil.process_iter(["name"]):
                if process.info["name"] != ASLEEP:
                    continue
                parents = _own_victim(process)
                if parents is None:
                    continue
                with contextlib.suppress(psutil.Error):
                    if target == "kernel":
                        process.kill()
                        done.append(target)
                    else:
                        servers = [
                            p for p in parents if "course.forking.server" in " ".join(p.cmdline())
                        ]
                        for server in servers:
                            server.terminate()
                        done.append(target if servers else "a kernel not forked")
                    return
            time.sleep(0.1)

    thread = threading.Thread(target=strike, daemon=True)
    thread.start()
    return thread, done


@pytest.mark.parametrize(
    ("grader", "target"),
    [("course grade", "kernel"), ("nbgrader", "kernel"), ("nbgrader", "parent")],
)
def test_a_kernel_killed_from_outside_runs_the_notebook_again(
    fixture_template, tmp_path, capsys, grader, target
):
    """The victim is never blamed: its notebook runs again in a new kernel and gets the
    grade its code earns, with no note about a stopped kernel (issue 23, point 4)."""
    cases = [Submission("victim", answers={"square": VICTIM}, expected=full_marks())]
    kit_execute = (
        "from course.grading.execute import autograde_preprocessors\n"
        "c.Autograde.autograde_preprocessors = autograde_preprocessors()"
    )
    course = course_with(fixture_template, tmp_path / "course", FIXTURE, cases, kit_execute)
    thread, done = kill_once(target)
    if grader == "course grade":
        code, log = course_grade(course, "--workers", "1", "--warm", "0", capsys=capsys)
    else:
        result = nbgrader("autograde", FIXTURE.name, cwd=course)
        code, log = result.returncode, result.stdout + result.stderr
    done.append("test over")  # stops the thread if it never struck
    thread.join()
    # Both graders wait for their warm parent to be ready, however busy the machine: the
    # victim's kernel is always forked, and there is always a parent to kill.
    assert done[0] == target, f"the test never saw the victim's kernel ({done[0]}): {log}"
    assert code == 0, log
    assert "There was an error processing" not in log
    assert points(course, FIXTURE) == expected_points(cases, FIXTURE)
    text = notebook_text(autograded(course, "victim", FIXTURE))
    assert "The grader stopped this cell" not in text and "Not run" not in text, text


#: A right ``mean``, then 3 GiB held in in-memory files (memfd) of 256 MiB each, under the
#: file size limit and never mapped: only a memory cgroup counts them (and ends the kernel).
HOARDS_MEMFD = (
    "def mean(values):\n    if not values:\n        raise ValueError()\n"
    "    return sum(values) / len(values)\n"
    "import os\nblock = bytes(64 * 2**20)\nhoard = []\nfor n in range(12):\n"
    "    fd = os.memfd_create(f'hoard{n}')\n    for _ in range(4):\n"
    "        os.write(fd, block)\n    hoard.append(fd)\n"
)


@pytest.mark.skipif(not box_available(), reason="no box here (no user namespaces)")
@pytest.mark.skipif(
    controller_folder("memory") is None,
    reason="no memory cgroup can be made here (needs root or a delegated cgroup)",
)
@pytest.mark.parametrize("grader", ["course grade", "nbgrader"])
def test_a_memfd_beyond_the_memory_limit_cuts_the_notebook(
    fixture_template, tmp_path, capsys, grader
):
    """Both graders: the memory cap ends the kernel in the hoarding cell; the learner keeps
    the points of the cells before it, the cells after it score 0, and the grader's note
    says why (the same note from both), never a failed submission or a re-run."""
    cases = [
        Submission("hoarder", answers={"mean": HOARDS_MEMFD}, expected=no_marks({"test_square": 1}))
    ]
    kit_execute = (
        "from course.grading.execute import autograde_preprocessors\n"
        "c.Autograde.autograde_preprocessors = autograde_preprocessors()"
    )
    course = course_with(fixture_template, tmp_path / "course", FIXTURE, cases, kit_execute)
    if grader == "course grade":
        code, log = course_grade(course, "--workers", "1", "--warm", "0", capsys=capsys)
    else:
        result = nbgrader("autograde", FIXTURE.name, cwd=course)
        code, log = result.returncode, result.stdout + result.stderr
    assert code == 0, log
    assert "There was an error processing" not in log and "running it again" not in log, log
    assert points(course, FIXTURE) == expected_points(cases, FIXTURE)
    nb = autograded(course, "hoarder", FIXTURE)
    notes = nb.cells[0].source
    assert (
        "The grader stopped your notebook in cell 7 (`mean`): it used more than 2 GiB of memory "
        "(shared memory and in-memory files included). The cells after it were not run, so "
        "their tests score 0."
    ) in notes, notes
