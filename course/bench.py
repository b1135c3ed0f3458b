"""``course bench``: is the kit fast enough for a whole class? One run on this machine measures

1. **the floor**: a fresh kernel that runs only the lessons' setup cell (kernel start and
   the TensorFlow import), ``--repeat`` times, median. Every other figure is also given as
   a multiple of it;
2. **each lesson** executed with nbclient: wall time, its own compute (the kernel's time
   per cell, setup cell excluded), the slowest cells, and the kernel's peak memory;
3. **the nbval suite** as ``make test`` runs it (``pytest -n 2 solutions``): wall time;
4. **a synthetic class** (``--learners``, default 30) built from the submission corpus
   (``tests/corpus``): learner *i* hands in case *i* mod (number of cases) of every chosen
   lesson. It is graded twice, in two copies of one temporary course: with serial
   ``nbgrader autograde`` and with ``course grade --workers N``. Both gradebooks must hold
   the same grades.

It prints a table with the issue's targets next to the measurements (PASS/MISS) and writes
everything to JSON. The machine's load average is recorded: on a busy machine the numbers
are noisy. Nothing here is a timed test.

Example::

    $ course bench                                   # one lesson graded for 30 learners
    $ course bench --all-lessons                     # the 180-notebook class
    $ course bench --lessons 03_tied_weights --learners 10 --skip nbval
    $ course bench --grader-cmd "python -m course.cli grade"   # another `course grade`
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import nbformat
import psutil
from nbclient import NotebookClient
from nbformat import NotebookNode

from course.build import IGNORED, QUIET_ENV
from course.corpus import Submission, graded_points, lesson_corpus, place_submissions
from course.lessons import CONFIG_FILE, Lesson, find_lessons, find_root, load_nbgrader_config

GiB = 2**30
MiB = 2**20
#: Lesson graded by default: the core idea of the kit, an average-sized notebook.
DEFAULT_LESSON = "01_shared_layers"
DEFAULT_JSON = Path("artifacts") / "bench" / "bench.json"
#: `make test` runs pytest with two workers (PYTEST_WORKERS).
NBVAL_COMMAND = ("-m", "pytest", "-n", "2", "solutions", "-q", "-p", "no:cacheprovider")
PHASES = ("floor", "lessons", "nbval", "class")

#: The issue's targets: name -> (limit, how the measured value must compare).
CELL_LIMIT = 3.0  # s of own compute per cell
LESSON_LIMIT = 20.0  # s of own compute per lesson
MEMORY_LIMIT = 1 * GiB  # kernel peak per lesson
SPEEDUP_TARGET = 1.8  # course grade vs serial nbgrader on 2 cores
GRADING_TARGET = 1.3  # course grade worker-seconds per notebook / (floor + compute)
NBVAL_TARGET = 1.5  # nbval wall / sum over lessons of (floor + compute)


# --------------------------------------------------------------------- small helpers


def ratio(value: float | None, reference: float | None) -> float | None:
    """``value / reference``, or None when either is missing or the reference is not positive.

    >>> ratio(6.0, 4.0), ratio(1.0, 0.0), ratio(None, 2.0)
    (1.5, None, None)
    """
    if value is None or reference is None or reference <= 0:
        return None
    return value / reference


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages, rounded ([] where the OS has none)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return []


def cores() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _quiet_env() -> dict[str, str]:
    """This environment plus quiet TensorFlow, with this venv's bin first on PATH (nbgrader
    runs `alembic`)."""
    bin_dir = str(Path(sys.executable).parent)
    return {**os.environ, **QUIET_ENV, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}


def _log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- cells and notebooks


def _timestamp(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


#: Lines that open many cells and say nothing about them.
_BOILERPLATE = ("clear_session()", "set_random_seed(")


def cell_label(source: str, width: int = 48) -> str:
    """A short name for a code cell: its first line that is not a comment, blank, or
    ``clear_session()`` / ``set_random_seed(...)``.

    >>> cell_label("# build\\nkeras.backend.clear_session()\\nmodel = keras.Sequential()")
    'model = keras.Sequential()'
    """
    for line in source.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and not any(b in line for b in _BOILERPLATE):
            return line if len(line) <= width else line[: width - 3] + "..."
    return "(empty)"


def setup_cell_index(nb: NotebookNode) -> int | None:
    """Index of the setup cell: the first code cell (the lesson template's cell 2)."""
    return next((i for i, c in enumerate(nb.cells) if c.cell_type == "code"), None)


def cell_times(nb: NotebookNode) -> list[dict[str, Any]]:
    """The kernel's own time per executed code cell of ``nb``, from nbclient's timing
    metadata (``iopub.execute_input`` to ``shell.execute_reply``): dicts with ``index``
    (position in ``nb.cells``), ``seconds``, ``label`` and ``setup`` (True for the setup
    cell). Cells without timing metadata are left out."""
    setup = setup_cell_index(nb)
    times = []
    for index, c in enumerate(nb.cells):
        timing = c.get("metadata", {}).get("execution", {})
        if c.cell_type != "code" or "iopub.execute_input" not in timing or "shell.execute_reply" not in timing:
            continue
        seconds = (_timestamp(timing["shell.execute_reply"]) - _timestamp(timing["iopub.execute_input"])).total_seconds()
        grade_id = c.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        label = f"[{grade_id}] " + cell_label(c.source, 32) if grade_id else cell_label(c.source)
        times.append({"index": index, "seconds": round(seconds, 3), "label": label, "setup": index == setup})
    return times


def own_compute(times: Sequence[Mapping[str, Any]]) -> float:
    """Sum of the cell times without the setup cell."""
    return round(sum(t["seconds"] for t in times if not t["setup"]), 3)


class PeakMemory:
    """The peak resident memory of a process and its children, sampled in a thread.

    Each sample adds up the RSS of the process tree and also reads the kernel's own
    high-water mark (``VmHWM`` in ``/proc/<pid>/status``, exact between samples).

    Example::

        with PeakMemory(pid) as peak:
            ...                       # the process works
        print(peak.bytes)
    """

    def __init__(self, pid: int, every: float = 0.05) -> None:
        self.pid = pid
        self.every = every
        self.bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"peak-memory-{pid}", daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> int:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        return self.bytes

    def sample(self) -> None:
        try:
            root = psutil.Process(self.pid)
            processes = [root, *root.children(recursive=True)]
        except psutil.Error:
            return
        total = 0
        for process in processes:
            with contextlib.suppress(psutil.Error):
                total += process.memory_info().rss
        self.bytes = max(self.bytes, total, high_water_mark(self.pid) or 0)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.every)


def high_water_mark(pid: int) -> int | None:
    """Peak resident memory of one process so far (``VmHWM``), in bytes; None if unknown."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"^VmHWM:\s+(\d+)\s+kB", status, re.MULTILINE)
    return int(match.group(1)) * 1024 if match else None


def run_notebook(nb: NotebookNode, cwd: Path, timeout: int = 300) -> dict[str, Any]:
    """Execute ``nb`` (in place) in a fresh ``python3`` kernel started in ``cwd``.

    Returns ``wall`` (seconds spent in nbclient's ``execute``: kernel start, every cell,
    shutdown), ``cells`` (:func:`cell_times`), ``compute`` (:func:`own_compute`),
    ``setup`` (the setup cell's time), ``peak_bytes`` (kernel and children) and ``error``
    (None, or what stopped the run).
    """
    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(cwd)}},
        record_timing=True, store_widget_state=False,
    )
    samplers: list[PeakMemory] = []

    def on_start(notebook: NotebookNode) -> None:
        provisioner = getattr(client.km, "provisioner", None)
        pid = getattr(provisioner, "pid", None) or getattr(getattr(provisioner, "process", None), "pid", None)
        if pid:
            samplers.append(PeakMemory(pid).__enter__())

    client.on_notebook_start = on_start
    error = None
    started = time.perf_counter()
    try:
        # The kernel's stderr (ipykernel's notices) would only clutter the progress lines;
        # a kernel that dies is reported by nbclient.
        client.execute(env=_quiet_env(), stderr=subprocess.DEVNULL)
    except Exception as exc:  # noqa: BLE001 - reported in the table, the benchmark goes on
        error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"
    wall = time.perf_counter() - started
    peak = max((s.stop() for s in samplers), default=0)
    times = cell_times(nb)
    setup = next((t["seconds"] for t in times if t["setup"]), None)
    return {
        "wall": round(wall, 3), "compute": own_compute(times), "setup": setup, "cells": times,
        "peak_bytes": peak, "error": error,
    }


# --------------------------------------------------------------------------- phases


def measure_floor(setup_source: str, repeat: int, work: Path) -> dict[str, Any]:
    """A fresh kernel running only ``setup_source``, ``repeat`` times: median wall."""
    runs = []
    for _ in range(repeat):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(setup_source)])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        run = run_notebook(nb, work)
        if run["error"]:
            raise RuntimeError(f"the setup cell failed in a fresh kernel: {run['error']}")
        runs.append(run)
        _log(f"floor: {run['wall']:.2f} s (setup cell {run['setup']:.2f} s, peak {run['peak_bytes'] / MiB:.0f} MiB)")
    return {
        "seconds": round(statistics.median(r["wall"] for r in runs), 3),
        "runs": [r["wall"] for r in runs],
        "setup_cell_seconds": round(statistics.median(r["setup"] for r in runs), 3),
        "peak_bytes": max(r["peak_bytes"] for r in runs),
        "repeat": repeat,
        "source": setup_source,
    }


def measure_lesson(lesson: Lesson, work: Path, timeout: int) -> dict[str, Any]:
    """Execute a copy of the lesson folder (solutions/) with nbclient."""
    folder = work / "lessons" / lesson.name
    shutil.copytree(lesson.source_dir, folder, ignore=IGNORED)
    nb = nbformat.read(folder / f"{lesson.name}.ipynb", as_version=4)
    run = run_notebook(nb, folder, timeout)
    slow = [t for t in run["cells"] if not t["setup"] and t["seconds"] > CELL_LIMIT]
    _log(
        f"{lesson.name}: wall {run['wall']:.1f} s, compute {run['compute']:.1f} s, "
        f"peak {run['peak_bytes'] / MiB:.0f} MiB" + (f", FAILED: {run['error']}" if run["error"] else "")
    )
    return {"name": lesson.name, **run, "slow_cells": slow}


def measure_nbval(root: Path) -> dict[str, Any]:
    """``pytest -n 2 solutions`` in ``root`` (its conftest.py and sanitize file apply)."""
    command = [sys.executable, *NBVAL_COMMAND]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=root, env=_quiet_env(), capture_output=True, text=True)
    seconds = time.perf_counter() - started
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    summary = lines[-1].strip("= ") if lines else done.stderr.strip()[-300:]
    _log(f"nbval: {seconds:.1f} s, exit {done.returncode}: {summary}")
    return {
        "command": "python " + " ".join(NBVAL_COMMAND), "seconds": round(seconds, 3),
        "returncode": done.returncode, "summary": summary,
    }


# ------------------------------------------------------------------ synthetic class


def learner_ids(learners: int) -> list[str]:
    """Student ids ``learner-01`` ... (zero-padded to the width of ``learners``).

    >>> learner_ids(3), learner_ids(10)[-1]
    (['learner-1', 'learner-2', 'learner-3'], 'learner-10')
    """
    width = len(str(learners))
    return [f"learner-{i:0{width}d}" for i in range(1, learners + 1)]


def class_layout(cases: Mapping[str, Sequence[Submission]], learners: int) -> dict[str, list[Submission]]:
    """Lesson -> one submission per learner: learner *i* (from 1) hands in case
    ``(i - 1) mod len(cases)`` of every lesson, renamed to the learner's id.

    Cases nbgrader cannot grade at all (``grading_fails``) are left out: nbgrader and
    ``course grade`` record those differently by design. Raises ValueError for a lesson
    without gradable cases.

    >>> from course.corpus import Submission, full_marks, no_marks
    >>> cases = [Submission("correct", expected=full_marks()),
    ...          Submission("untouched", base="blank", expected=no_marks())]
    >>> [(s.name, s.base) for s in class_layout({"01_x": cases}, 3)["01_x"]]
    [('learner-1', 'solution'), ('learner-2', 'blank'), ('learner-3', 'solution')]
    """
    if learners < 1:
        raise ValueError("a class needs at least one learner")
    layout = {}
    for lesson, lesson_cases in cases.items():
        usable = [c for c in lesson_cases if not c.grading_fails]
        if not usable:
            raise ValueError(f"{lesson} has no gradable submissions in its corpus (tests/corpus/{lesson}.py)")
        layout[lesson] = [
            dataclasses.replace(usable[i % len(usable)], name=student) for i, student in enumerate(learner_ids(learners))
        ]
    return layout


def nbgrader_command(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """This environment's ``nbgrader`` with ``args`` in ``cwd``."""
    return subprocess.run(
        [str(Path(sys.executable).parent / "nbgrader"), *args], cwd=cwd, env=_quiet_env(), capture_output=True, text=True
    )


def build_class(root: Path, lessons: Sequence[Lesson], layout: Mapping[str, Sequence[Submission]], course: Path) -> None:
    """A temporary nbgrader course in ``course``: the config, the lessons' sources,
    ``generate_assignment`` for each (the gradebook knows them), and every learner's
    submission in ``submitted/<learner>/<lesson>/``."""
    course.mkdir(parents=True)
    shutil.copy(root / CONFIG_FILE, course / CONFIG_FILE)
    for lesson in lessons:
        shutil.copytree(lesson.source_dir, course / "solutions" / lesson.name, ignore=IGNORED)
        done = nbgrader_command("generate_assignment", lesson.name, cwd=course)
        if done.returncode != 0:
            raise RuntimeError(f"nbgrader generate_assignment {lesson.name} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
        # Learners start from the committed learner notebook, as in tests/pipeline.
        place_submissions(course, lesson.name, layout[lesson.name], lesson.release_notebook, lesson.source_notebook)


def read_grades(course: Path, course_id: str, lessons: Sequence[str], students: Sequence[str]) -> dict[str, float | None]:
    """``"student/lesson/test cell" -> score`` from the course's gradebook (None: no grade)."""
    from nbgrader.api import Gradebook, MissingEntry

    grades: dict[str, float | None] = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id) as gradebook:
        for lesson in lessons:
            cells = [c.name for c in gradebook.find_notebook(lesson, lesson).grade_cells]
            for student in students:
                for cell_name in cells:
                    try:
                        score = gradebook.find_grade(cell_name, lesson, lesson, student).score
                        grades[f"{student}/{lesson}/{cell_name}"] = None if score is None else float(score)
                    except MissingEntry:
                        grades[f"{student}/{lesson}/{cell_name}"] = None
    return grades


def grade_differences(a: Mapping[str, float | None], b: Mapping[str, float | None], names: tuple[str, str]) -> list[str]:
    """One line per grade key where the two gradebooks disagree (or one lacks it).

    >>> grade_differences({"s/l/t": 1.0, "s/l/u": 2.0}, {"s/l/t": 1.0, "s/l/u": 0.0}, ("nbgrader", "course grade"))
    ['s/l/u: nbgrader 2.0, course grade 0.0']
    """
    return [
        f"{key}: {names[0]} {a.get(key)}, {names[1]} {b.get(key)}"
        for key in sorted(set(a) | set(b))
        if a.get(key) != b.get(key)
    ]


def expected_grades(lessons: Sequence[Lesson], layout: Mapping[str, Sequence[Submission]]) -> dict[str, float]:
    """``"student/lesson/test cell" -> points`` the corpus says each submission earns."""
    expected = {}
    for lesson in lessons:
        points = graded_points(nbformat.read(lesson.source_notebook, as_version=4))
        for submission in layout[lesson.name]:
            for cell_name, value in submission.expected_points(points).items():
                expected[f"{submission.name}/{lesson.name}/{cell_name}"] = value
    return expected


def graded_compute(course: Path, lessons: Sequence[str], students: Sequence[str]) -> dict[str, float]:
    """``"student/lesson" -> own compute`` of each autograded notebook (nbgrader keeps
    nbclient's timing metadata); notebooks without it are left out."""
    compute = {}
    for student in students:
        for lesson in lessons:
            path = course / "autograded" / student / lesson / f"{lesson}.ipynb"
            if path.is_file():
                times = cell_times(nbformat.read(path, as_version=4))
                if times:
                    compute[f"{student}/{lesson}"] = own_compute(times)
    return compute


def _timed(command: Sequence[str], cwd: Path) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    done = subprocess.run(list(command), cwd=cwd, env=_quiet_env(), capture_output=True, text=True)
    return time.perf_counter() - started, done


def _tail(done: subprocess.CompletedProcess, limit: int = 1500) -> str:
    text = (done.stdout + done.stderr).strip()
    return text if len(text) <= limit else "..." + text[-limit:]


def grader_command(override: str | None) -> tuple[list[str] | None, str | None]:
    """The ``course grade`` command line to run, or (None, why it is not available)."""
    if override:
        return shlex.split(override), None
    from course.cli import SUBCOMMANDS

    if "grade" not in SUBCOMMANDS:
        return None, "`course grade` is not registered in course/cli.py (pass --grader-cmd to use another one)"
    return [str(Path(sys.executable).parent / "course"), "grade"], None


def measure_class(
    root: Path,
    lessons: Sequence[Lesson],
    learners: int,
    workers: int,
    grader: Sequence[str] | None,
    unavailable: str | None,
    work: Path,
) -> dict[str, Any]:
    """Grade the synthetic class with serial nbgrader and with ``course grade``."""
    layout = class_layout({lesson.name: lesson_corpus(lesson) for lesson in lessons}, learners)
    names = [lesson.name for lesson in lessons]
    students = learner_ids(learners)
    template = work / "class-template"
    _log(f"class: {learners} learners x {len(names)} lesson(s), building the course in {template}")
    build_class(root, lessons, layout, template)
    course_id = load_nbgrader_config(root).CourseDirectory.course_id
    expected = expected_grades(lessons, layout)
    result: dict[str, Any] = {
        "lessons": names, "learners": learners, "notebooks": learners * len(names), "workers": workers,
        "cases": {name: [s.name for s in lesson_corpus(lesson) if not s.grading_fails] for name, lesson in zip(names, lessons)},
        "rule": "learner i (from 1) hands in case (i - 1) mod len(cases) of every lesson",
    }

    serial_dir = work / "class-serial"
    shutil.copytree(template, serial_dir)
    serial_seconds, failures = 0.0, []
    for name in names:
        _log(f"class: nbgrader autograde {name} ({learners} learners, serial)")
        seconds, done = _timed([str(Path(sys.executable).parent / "nbgrader"), "autograde", name], serial_dir)
        serial_seconds += seconds
        if done.returncode != 0:
            failures.append(f"nbgrader autograde {name} exited {done.returncode}: {_tail(done)}")
    serial_grades = read_grades(serial_dir, course_id, names, students)
    compute = graded_compute(serial_dir, names, students)
    _log(f"class: serial nbgrader {serial_seconds:.1f} s")
    result["serial"] = {
        "command": "nbgrader autograde LESSON (once per lesson)", "seconds": round(serial_seconds, 3),
        "failures": failures,
        "expected_mismatches": grade_differences(expected, serial_grades, ("corpus", "nbgrader")),
    }
    result["notebook_compute"] = compute

    if grader is None:
        result["parallel"] = {"available": False, "reason": unavailable}
        return result
    parallel_dir = work / "class-parallel"
    shutil.copytree(template, parallel_dir)
    command = [*grader, *names, "--workers", str(workers), "--course-dir", str(parallel_dir)]
    _log(f"class: {shlex.join(command)}")
    seconds, done = _timed(command, parallel_dir)
    parallel_grades = read_grades(parallel_dir, course_id, names, students)
    differences = grade_differences(serial_grades, parallel_grades, ("nbgrader", "course grade"))
    _log(f"class: course grade {seconds:.1f} s, exit {done.returncode}, {len(differences)} grade differences")
    result["parallel"] = {
        "available": True, "command": shlex.join(command), "seconds": round(seconds, 3),
        "returncode": done.returncode, "output_tail": _tail(done) if done.returncode else "",
        "differences": differences, "same_grades": not differences and len(serial_grades) > 0,
        "grades_compared": len(serial_grades),
    }
    return result


# -------------------------------------------------------------------- derived figures


def derive(report: dict[str, Any]) -> dict[str, Any]:
    """Add the ratios to the floor, the references and the targets to a raw ``report``
    (the dict :func:`run` builds; see tests/course/test_bench.py for a small one)."""
    floor = (report.get("floor") or {}).get("seconds")
    lessons = report.get("lessons") or []
    by_name = {lesson["name"]: lesson for lesson in lessons}
    for lesson in lessons:
        lesson["wall_ratio"] = ratio(lesson["wall"], floor)
        lesson["compute_ratio"] = ratio(lesson["compute"], floor)
        lesson["reference_seconds"] = None if floor is None else round(floor + lesson["compute"], 3)
    nbval = report.get("nbval")
    if nbval and lessons and floor is not None:
        nbval["reference_seconds"] = round(sum(floor + lesson["compute"] for lesson in lessons), 3)
        nbval["ratio"] = ratio(nbval["seconds"], nbval["reference_seconds"])
        nbval["floor_ratio"] = ratio(nbval["seconds"], floor)
    klass = report.get("class")
    if klass and floor is not None:
        # floor + the compute of each graded notebook (its own timing; the solution's otherwise)
        reference = 0.0
        compute = klass.get("notebook_compute", {})
        for name in klass["lessons"]:
            for student in learner_ids(klass["learners"]):
                fallback = by_name.get(name, {}).get("compute", 0.0)
                reference += floor + compute.get(f"{student}/{name}", fallback)
        klass["reference_seconds"] = round(reference, 3)
        notebooks = klass["notebooks"]
        serial = klass["serial"]
        serial["per_notebook"] = serial["seconds"] / notebooks
        serial["ratio"] = ratio(serial["seconds"], reference)
        serial["floor_ratio"] = ratio(serial["per_notebook"], floor)
        parallel = klass.get("parallel", {})
        if parallel.get("available"):
            parallel["per_notebook"] = parallel["seconds"] / notebooks
            parallel["worker_seconds_per_notebook"] = parallel["seconds"] * klass["workers"] / notebooks
            parallel["ratio"] = ratio(parallel["seconds"] * klass["workers"], reference)
            parallel["floor_ratio"] = ratio(parallel["per_notebook"], floor)
            klass["speedup"] = ratio(serial["seconds"], parallel["seconds"])
    report["targets"] = targets(report)
    return report


def _status(measured: float | None, limit: float, higher_is_better: bool = False, strict: bool = False) -> str:
    if measured is None:
        return "N/A"
    if higher_is_better:
        ok = measured >= limit
    else:
        ok = measured < limit if strict else measured <= limit
    return "PASS" if ok else "MISS"


def targets(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The issue's targets with the measured values and PASS / MISS (N/A: not measured)."""
    rows = []
    klass = report.get("class") or {}
    parallel = klass.get("parallel") or {}
    grades_ok = parallel.get("same_grades")
    speedup = klass.get("speedup")
    workers = klass.get("workers")
    rows.append({
        "name": f"class autograding: course grade vs serial nbgrader ({workers or '?'} workers)",
        "target": f">= {SPEEDUP_TARGET}x faster on 2 cores", "measured": speedup, "unit": "x",
        "status": _status(speedup, SPEEDUP_TARGET, higher_is_better=True),
        "note": parallel.get("reason") or "",
    })
    rows.append({
        "name": "course grade per notebook (worker-seconds) vs floor + its compute",
        "target": f"<= {GRADING_TARGET}x", "measured": parallel.get("ratio"), "unit": "x",
        "status": _status(parallel.get("ratio"), GRADING_TARGET), "note": "",
    })
    rows.append({
        "name": "same grades from nbgrader and course grade",
        "target": "identical gradebooks", "measured": grades_ok, "unit": "",
        "status": "N/A" if grades_ok is None else ("PASS" if grades_ok else "MISS"),
        "note": f"{len(parallel.get('differences', []))} differences" if grades_ok is False else "",
    })
    nbval = report.get("nbval") or {}
    rows.append({
        "name": "nbval (pytest -n 2 solutions) vs sum over lessons of floor + compute",
        "target": f"<= {NBVAL_TARGET}x", "measured": nbval.get("ratio"), "unit": "x",
        "status": "MISS" if nbval.get("returncode") not in (None, 0) else _status(nbval.get("ratio"), NBVAL_TARGET),
        "note": f"pytest exited {nbval['returncode']}" if nbval.get("returncode") not in (None, 0) else "",
    })
    lessons = report.get("lessons") or []
    worst_memory = max(lessons, key=lambda lesson: lesson["peak_bytes"], default=None)
    rows.append({
        "name": "kernel peak memory, worst lesson",
        "target": "< 1 GiB per lesson", "measured": worst_memory and worst_memory["peak_bytes"] / MiB, "unit": "MiB",
        "status": _status(worst_memory and worst_memory["peak_bytes"], MEMORY_LIMIT, strict=True),
        "note": worst_memory["name"] if worst_memory else "",
    })
    cells = [(lesson["name"], cell) for lesson in lessons for cell in lesson["cells"] if not cell["setup"]]
    worst_cell = max(cells, key=lambda item: item[1]["seconds"], default=None)
    rows.append({
        "name": "slowest cell, own compute (setup cell excluded)",
        "target": f"< {CELL_LIMIT:g} s every cell", "measured": worst_cell and worst_cell[1]["seconds"], "unit": "s",
        "status": _status(worst_cell and worst_cell[1]["seconds"], CELL_LIMIT, strict=True),
        "note": f"{worst_cell[0]} cell {worst_cell[1]['index']}" if worst_cell else "",
    })
    worst_lesson = max(lessons, key=lambda lesson: lesson["compute"], default=None)
    failed = [lesson["name"] for lesson in lessons if lesson.get("error")]
    rows.append({
        "name": "slowest lesson, own compute",
        "target": f"< {LESSON_LIMIT:g} s every lesson", "measured": worst_lesson and worst_lesson["compute"], "unit": "s",
        "status": "MISS" if failed else _status(worst_lesson and worst_lesson["compute"], LESSON_LIMIT, strict=True),
        "note": ("failed: " + ", ".join(failed)) if failed else (worst_lesson["name"] if worst_lesson else ""),
    })
    return rows


# ---------------------------------------------------------------------------- report


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _measured(row: Mapping[str, Any]) -> str:
    value = row["measured"]
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if row["unit"] == "x":
        return f"{value:.2f}x"
    if row["unit"] == "MiB":
        return f"{value:.0f} MiB"
    return f"{value:.2f} {row['unit']}".strip()


def _columns(rows: Sequence[Sequence[str]], right: Sequence[bool]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.rjust(w) if r else cell.ljust(w) for cell, w, r in zip(row, widths, right)).rstrip()
        for row in rows
    ]


def format_report(report: Mapping[str, Any]) -> str:
    """The human-readable table of a :func:`derive`-d report."""
    machine = report.get("machine", {})
    load = report.get("load", {})
    lines = [
        f"course bench  {report.get('started', '')}  {machine.get('cores', '?')} cores, "
        f"tensorflow {machine.get('tensorflow', '?')}, keras {machine.get('keras', '?')}, nbgrader {machine.get('nbgrader', '?')}",
        "load average (1/5/15 min): " + ", ".join(f"{phase} {' '.join(f'{x:.2f}' for x in values)}" for phase, values in load.items()),
    ]
    floor = report.get("floor")
    if floor:
        lines += [
            "",
            f"Floor (fresh kernel + setup imports, median of {floor['repeat']}): {floor['seconds']:.2f} s "
            f"[{', '.join(f'{x:.2f}' for x in floor['runs'])}]; setup cell itself {floor['setup_cell_seconds']:.2f} s; "
            f"kernel peak {floor['peak_bytes'] / MiB:.0f} MiB",
        ]
    lessons = report.get("lessons") or []
    if lessons:
        rows = [("lesson", "wall", "x floor", "compute", "x floor", "peak MiB", "slowest cell (own compute)")]
        for lesson in lessons:
            cells = [c for c in lesson["cells"] if not c["setup"]]
            slowest = max(cells, key=lambda c: c["seconds"], default=None)
            rows.append((
                lesson["name"] + (" FAILED" if lesson.get("error") else ""),
                _s(lesson["wall"]), _x(lesson.get("wall_ratio")), _s(lesson["compute"]), _x(lesson.get("compute_ratio")),
                f"{lesson['peak_bytes'] / MiB:.0f}",
                f"{slowest['seconds']:.2f} s cell {slowest['index']}: {slowest['label']}" if slowest else "-",
            ))
        lines += ["", *_columns(rows, (False, True, True, True, True, True, False))]
        slow = [(lesson["name"], c) for lesson in lessons for c in lesson["slow_cells"]]
        lines.append(
            f"Cells over {CELL_LIMIT:g} s of own compute: "
            + ("; ".join(f"{name} cell {c['index']} {c['seconds']:.2f} s ({c['label']})" for name, c in slow) or "none")
        )
        for lesson in lessons:
            if lesson.get("error"):
                lines.append(f"{lesson['name']} did not run to the end: {lesson['error']}")
    nbval = report.get("nbval")
    if nbval:
        lines += [
            "",
            f"nbval: {nbval['command']}: {_s(nbval['seconds'])} = {_x(nbval.get('floor_ratio'))} floor, "
            f"{_x(nbval.get('ratio'))} the sum of (floor + compute) = {_s(nbval.get('reference_seconds'))}; {nbval['summary']}",
        ]
    klass = report.get("class")
    if klass:
        serial, parallel = klass["serial"], klass.get("parallel", {})
        lines += [
            "",
            f"Class: {klass['learners']} learners x {len(klass['lessons'])} lesson(s) ({', '.join(klass['lessons'])}) = "
            f"{klass['notebooks']} notebooks; sum of (floor + each notebook's compute) = {_s(klass.get('reference_seconds'))}",
        ]
        rows = [("grader", "wall", "per notebook", "x floor", "x (floor + compute)")]
        rows.append(("nbgrader autograde (serial)", _s(serial["seconds"]), _s(serial.get("per_notebook")),
                     _x(serial.get("floor_ratio")), _x(serial.get("ratio"))))
        if parallel.get("available"):
            rows.append((
                f"course grade --workers {klass['workers']}", _s(parallel["seconds"]),
                f"{_s(parallel['per_notebook'])} ({_s(parallel['worker_seconds_per_notebook'])} x {klass['workers']})",
                _x(parallel.get("floor_ratio")), _x(parallel.get("ratio")) + " (worker-seconds)",
            ))
        else:
            rows.append(("course grade", "not available", "", "", ""))
        lines += ["  " + line for line in _columns(rows, (False, True, True, True, True))]
        if parallel.get("available"):
            verdict = "same grades" if parallel["same_grades"] else f"{len(parallel['differences'])} DIFFERENT grades"
            lines.append(f"  speedup {_x(klass.get('speedup'))}; {verdict} ({parallel['grades_compared']} test cells compared)")
            lines += [f"    {d}" for d in parallel["differences"][:10]]
            if parallel.get("returncode"):
                lines.append(f"  course grade exited {parallel['returncode']}: {parallel['output_tail']}")
        else:
            lines.append(f"  course grade not available: {parallel.get('reason')}")
        for failure in serial.get("failures", []):
            lines.append(f"  {failure}")
        mismatches = serial.get("expected_mismatches", [])
        if mismatches:
            lines.append(f"  nbgrader's grades differ from the corpus's expected points in {len(mismatches)} places:")
            lines += [f"    {m}" for m in mismatches[:10]]
    rows = [("target", "limit", "measured", "status", "")]
    rows += [(t["name"], t["target"], _measured(t), t["status"], t["note"]) for t in report.get("targets", [])]
    lines += ["", "Targets", *["  " + line for line in _columns(rows, (False, False, True, False, False))]]
    return "\n".join(lines)


def write_json(report: Mapping[str, Any], path: Path) -> Path:
    """Write ``report`` as indented JSON (folders created); returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return path


# ------------------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--lessons", nargs="+", metavar="LESSON", help=f"lessons the class hands in (default: {DEFAULT_LESSON})")
    parser.add_argument("--all-lessons", action="store_true", help="the class hands in every lesson (30 learners: 180 notebooks)")
    parser.add_argument("--learners", type=int, default=30, help="learners in the synthetic class (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=cores(), help="course grade --workers (default: cores, %(default)s)")
    parser.add_argument("--repeat", type=int, default=3, help="fresh kernels for the floor, median (default: %(default)s)")
    parser.add_argument("--skip", action="append", default=[], choices=PHASES[1:], help="leave out a phase (repeatable)")
    parser.add_argument(
        "--grader-cmd", metavar="COMMAND",
        help="command line standing for `course grade` (default: this environment's `course grade`)",
    )
    parser.add_argument("--json", type=Path, help=f"where to write the JSON report (default: <root>/{DEFAULT_JSON})")
    parser.add_argument("--work-dir", type=Path, help="keep the temporary courses here (default: a deleted temp folder)")
    parser.add_argument("--root", type=Path, help="course root (default: nearest folder with nbgrader_config.py)")


@contextlib.contextmanager
def _work_dir(path: Path | None) -> Iterator[Path]:
    if path is not None:
        path = path.resolve()
        if path.exists() and any(path.iterdir()):
            raise FileExistsError(f"--work-dir {path} is not empty")
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="course-bench-") as tmp:
        yield Path(tmp)


def _versions() -> dict[str, Any]:
    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "?"

    return {
        "cores": cores(), "cpu_count": os.cpu_count(), "python": platform.python_version(),
        "platform": platform.platform(), "tensorflow": version("tensorflow-cpu") if version("tensorflow") == "?" else version("tensorflow"),
        "keras": version("keras"), "nbgrader": version("nbgrader"), "nbclient": version("nbclient"),
    }


def run(args: argparse.Namespace) -> int:
    try:
        root = args.root.resolve() if args.root else find_root()
        all_lessons = find_lessons(root)
        names = None if args.all_lessons else (args.lessons or [DEFAULT_LESSON])
        class_lessons = find_lessons(root, names)
        if args.learners < 1 or args.workers < 1 or args.repeat < 1:
            raise ValueError("--learners, --workers and --repeat must be at least 1")
    except (FileNotFoundError, ValueError) as error:
        print(f"course bench: {error}", file=sys.stderr)
        return 2
    if not all_lessons:
        print(f"course bench: no lessons in {root / 'solutions'}", file=sys.stderr)
        return 2
    grader, unavailable = grader_command(args.grader_cmd)
    timeout = int(load_nbgrader_config(root).Execute.get("timeout", 300))
    setup = nbformat.read(all_lessons[0].source_notebook, as_version=4)
    setup_index = setup_cell_index(setup)
    if setup_index is None:
        print(f"course bench: {all_lessons[0].source_notebook} has no code cell", file=sys.stderr)
        return 2

    report: dict[str, Any] = {
        "started": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": _versions(),
        "load": {"start": load_average()},
        "targets_defined": {
            "speedup": SPEEDUP_TARGET, "grading_ratio": GRADING_TARGET, "nbval_ratio": NBVAL_TARGET,
            "memory_bytes": MEMORY_LIMIT, "cell_seconds": CELL_LIMIT, "lesson_seconds": LESSON_LIMIT,
        },
    }
    try:
        with _work_dir(args.work_dir) as work:
            report["floor"] = measure_floor(setup.cells[setup_index].source, args.repeat, work)
            report["load"]["after floor"] = load_average()
            report["lessons"] = [measure_lesson(lesson, work, timeout) for lesson in all_lessons]
            report["load"]["after lessons"] = load_average()
            if "nbval" not in args.skip:
                report["nbval"] = measure_nbval(root)
                report["load"]["after nbval"] = load_average()
            if "class" not in args.skip:
                report["class"] = measure_class(root, class_lessons, args.learners, args.workers, grader, unavailable, work)
                report["load"]["after class"] = load_average()
    except (RuntimeError, FileExistsError) as error:
        print(f"course bench: {error}", file=sys.stderr)
        return 1
    derive(report)
    path = write_json(report, args.json or root / DEFAULT_JSON)
    print(format_report(report))
    print(f"\nJSON: {path}")
    broken = (
        any(lesson.get("error") for lesson in report["lessons"])
        or (report.get("nbval") or {}).get("returncode") not in (None, 0)
        or bool((report.get("class") or {}).get("serial", {}).get("failures"))
        or (report.get("class") or {}).get("parallel", {}).get("same_grades") is False
    )
    return 1 if broken else 0
