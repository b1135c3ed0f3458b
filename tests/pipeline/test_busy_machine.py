"""A grade does not depend on how busy the machine is (course/grading/cpu_time.py).

The capstone's correct and near-correct notebooks are graded by both graders while three
processes spin on the machine's cores (started and ended here; each also ends itself after
``SPIN_SECONDS``), ``course grade`` with more workers than cores too, and must get exactly
the points the corpus expects, which is what an idle machine gives them
(tests/pipeline/test_pipeline.py). The limit per cell is ``BUSY_LIMIT`` seconds, well above
the CPU time of the training cell (about 3 s) but below its wall-clock time on a busy
2-core machine (6 to 16 s seen): judged on the clock, the training cells would be cut and
Part D lost. The test passes on a machine that is busy anyway: more load only stretches
the clock, which is not what the limit counts (its ceiling is ``WALL_FACTOR`` x away).

Run it: ``.venv/bin/pytest -n 0 -p no:cacheprovider tests/pipeline/test_busy_machine.py``.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import nbformat
import pytest

from course.config import CONFIG_FILE, set_cell_timeout
from course.corpus import place_submissions


def _pipeline_helpers():
    """This folder's conftest.py as a module of its own (``import conftest`` could be
    another folder's: every conftest.py is named so)."""
    name = "pipeline_conftest"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("conftest.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


pipeline = _pipeline_helpers()
LESSON = "05_capstone"
#: The capstone's correct notebooks (one trains twice) and near-correct ones (one part wrong).
CASES = ("correct", "correct_mask_zero", "copies_training_cell", "over_budget", "tie_missing")
#: CPU seconds per cell; the capstone's training cell uses about 3.
BUSY_LIMIT = 8
#: The wall-clock ceiling, in limits: far enough that the load never reaches it.
WALL_FACTOR = 25
SPINNERS = 3
SPIN_SECONDS = 1200
SPIN = "import time\nend = time.monotonic() + {}\nwhile time.monotonic() < end:\n    pass\n"


@contextmanager
def busy_machine(processes: int = SPINNERS, seconds: int = SPIN_SECONDS) -> Iterator[list]:
    """``processes`` Python processes spinning on the CPU while the block runs (each ends
    itself after ``seconds`` if the block outlives them); yields them."""
    spinners = [
        subprocess.Popen([sys.executable, "-c", SPIN.format(seconds)]) for _ in range(processes)
    ]
    try:
        yield spinners
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def _course(root: Path):
    item = next(i for i in pipeline._all_lessons() if i.course == "kit" and i.lesson.name == LESSON)
    cases = [case for case in item.cases if case.name in CASES]
    assert sorted(case.name for case in cases) == sorted(CASES)
    generate = pipeline.new_course(item.lesson, root)
    assert generate.returncode == 0, generate.stdout + generate.stderr
    set_cell_timeout(root, BUSY_LIMIT)
    with open(root / CONFIG_FILE, "a", encoding="utf-8") as config:
        config.write(f"c.RestartingExecute.wall_limit_factor = {WALL_FACTOR}\n")
    place_submissions(
        root, LESSON, cases, item.lesson.release_notebook, item.lesson.source_notebook
    )
    return item, cases


def _training_seconds(root: Path, student: str) -> float:
    """Wall-clock seconds of the training cell in the autograded notebook (nbclient's
    timing metadata), for the log."""
    nb = nbformat.read(root / "autograded" / student / LESSON / f"{LESSON}.ipynb", as_version=4)
    cell = next(
        c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "ex2_train_model"
    )
    timing = cell.metadata.get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not (start and end):
        return float("nan")
    from datetime import datetime

    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


@pytest.mark.parametrize("grader", ["nbgrader", "course-grade"])
def test_capstone_grades_are_the_same_on_a_busy_machine(tmp_path, grader):
    root = tmp_path / "course"
    item, cases = _course(root)
    with busy_machine() as spinners:
        if grader == "nbgrader":
            run = pipeline.nbgrader("autograde", LESSON, cwd=root)
        else:  # more workers than the machine has cores, beside the spinners
            run = pipeline.run_tool(
                "course",
                "grade",
                LESSON,
                "--course-dir",
                str(root),
                "--workers",
                "3",
                "--scratch-dir",
                str(tmp_path / "scratch"),
                cwd=root,
            )
        busy_throughout = all(spinner.poll() is None for spinner in spinners)
    assert run.returncode == 0, run.stdout + run.stderr
    assert busy_throughout, "a spinner ended before grading did"
    max_points, scores = pipeline.read_scores(root, item, cases)
    for case in cases:
        print(f"{grader} {case.name}: training cell {_training_seconds(root, case.name):.1f} s")
        assert scores[case.name] == case.expected_points(max_points), case.name
