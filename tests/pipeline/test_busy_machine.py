"""A grade does not depend on how busy the machine is (course/grading/steps/cpu_time.py).

Both graders grade the capstone's correct notebook (it trains a model) and a near-correct
one (one part wrong) at the same time, on ONE core they share with ``SPINNERS`` processes
spinning on it (started and ended here; each also ends itself after ``SPIN_SECONDS``):
``nbgrader autograde`` runs one kernel and ``course grade`` two, more workers than the core
they have. Every notebook must get exactly the points the corpus expects, which is what an
idle machine gives it (tests/pipeline/test_pipeline.py). The limit per cell is
``BUSY_LIMIT`` seconds, well above the CPU time of the training cell (about 3 s) but below
its wall-clock time when it gets a quarter of a core or less (three spinners, one to three
kernels): judged on the clock, the training cell would be cut and Part D lost (set
``time_limit_clock = "wall"`` in ``_course`` to see it fail). The test passes on a machine
that is busy anyway: more load only stretches the clock, which is not what the limit counts
(its ceiling is ``WALL_FACTOR`` x away).

Everything the test starts is pinned to one core (``os.sched_setaffinity``), the graders'
kernels too: both fork them from warm parents they start themselves
(``course.forking.client.own_servers_folder``), which inherit the pinning. So the
machine's other cores stay free for the other tests, and the load on the graded kernels
does not depend on how many cores the machine has.

Run it: ``.venv/bin/pytest -n 0 -p no:cacheprovider -s tests/pipeline/test_busy_machine.py``.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import nbformat

from course.config import CONFIG_FILE, set_cell_timeout, tool_environment
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
#: The capstone's correct notebook (full marks, Part D trains a model) and a near-correct
#: one (the tie missing: Part B lost, the rest kept).
CASES = ("correct", "tie_missing")
#: CPU seconds per cell; the capstone's training cell uses about 3.
BUSY_LIMIT = 8
#: The wall-clock ceiling, in limits: far enough that the load never reaches it.
WALL_FACTOR = 25
#: Kernels ``course grade`` runs at once, on the one core.
WORKERS = 2
SPINNERS = 3
SPIN_SECONDS = 1200
SPIN = "import time\nend = time.monotonic() + {}\nwhile time.monotonic() < end:\n    pass\n"


def one_core() -> int:
    """The core this test pins everything to: the last one this process may run on.

    >>> one_core() in os.sched_getaffinity(0)
    True
    """
    return max(os.sched_getaffinity(0))


@contextmanager
def pinned(core: int) -> Iterator[None]:
    """Run the block on ``core`` only: the processes it starts inherit that, and all they
    start in turn. (Set in this thread, not in a ``preexec_fn``, which is unsafe with
    threads: the suite has some.)"""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {core})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


@contextmanager
def busy_core(core: int, processes: int = SPINNERS, seconds: int = SPIN_SECONDS) -> Iterator[list]:
    """``processes`` Python processes spinning on ``core`` while the block runs (each ends
    itself after ``seconds`` if the block outlives them); yields them."""
    with pinned(core):
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
    """A course at ``root`` with ``CASES`` submitted, graded with ``BUSY_LIMIT``."""
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


def _start(tool: str, *args: str, cwd: Path, core: int, env: dict) -> subprocess.Popen:
    """This environment's ``tool`` with ``args`` in ``cwd``, pinned to ``core``; its output
    goes to ``grader.log`` beside ``cwd``."""
    with open(cwd.parent / "grader.log", "w", encoding="utf-8") as log, pinned(core):
        return subprocess.Popen(
            [str(Path(sys.executable).parent / tool), *args],
            cwd=cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


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
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def test_capstone_grades_are_the_same_on_a_busy_core(tmp_path):
    core = one_core()
    roots = {
        "nbgrader": tmp_path / "nbgrader" / "course",
        "course-grade": tmp_path / "cg" / "course",
    }
    courses = {grader: _course(root) for grader, root in roots.items()}
    env = tool_environment()
    with busy_core(core) as spinners:
        runs = {
            "nbgrader": _start(
                "nbgrader", "autograde", LESSON, cwd=roots["nbgrader"], core=core, env=env
            ),
            "course-grade": _start(
                "course",
                *("grade", LESSON, "--course-dir", str(roots["course-grade"])),
                *("--workers", str(WORKERS), "--scratch-dir", str(tmp_path / "scratch")),
                cwd=roots["course-grade"],
                core=core,
                env=env,
            ),
        }
        codes = {grader: run.wait() for grader, run in runs.items()}
        busy_throughout = all(spinner.poll() is None for spinner in spinners)
    for grader, code in codes.items():
        log = (roots[grader].parent / "grader.log").read_text(encoding="utf-8")
        assert code == 0, f"{grader}:\n{log[-4000:]}"
    assert busy_throughout, "a spinner ended before grading did"
    for grader, (item, cases) in courses.items():
        root = roots[grader]
        max_points, scores = pipeline.read_scores(root, item, cases)
        for case in cases:
            seconds = _training_seconds(root, case.name)
            print(f"{grader} {case.name}: training cell {seconds:.1f} s on a shared core")
            assert scores[case.name] == case.expected_points(max_points), (grader, case.name)
