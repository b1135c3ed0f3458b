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
are noisy. Nothing here is a timed test. The notebook measurements are in
:mod:`course.notebook_timing`, the ratios, targets and table in :mod:`course.bench_report`.

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
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import nbformat

from course.bench_report import (
    CELL_LIMIT,
    GRADING_TARGET,
    LESSON_LIMIT,
    MEMORY_LIMIT,
    NBVAL_TARGET,
    SPEEDUP_TARGET,
    MiB,
    derive,
    format_comparison,
    format_report,
    write_json,
)
from course.build import IGNORED
from course.cells import graded_points
from course.config import (
    CONFIG_FILE,
    cell_timeout,
    find_root,
    load_course_config,
    tool_environment,
)
from course.corpus import Submission, lesson_corpus, place_submissions
from course.lessons import Lesson, find_lessons
from course.notebook_timing import (
    cell_times,
    own_compute,
    run_notebook,
    setup_cell_index,
)

#: Lesson graded by default: the core idea of the kit, an average-sized notebook.
DEFAULT_LESSON = "01_shared_layers"
DEFAULT_JSON = Path("artifacts") / "bench" / "bench.json"
#: `make test` runs pytest with two workers (PYTEST_WORKERS).
NBVAL_COMMAND = ("-m", "pytest", "-n", "2", "solutions", "-q", "-p", "no:cacheprovider")
PHASES = ("kernels", "floor", "lessons", "nbval", "class")


# --------------------------------------------------------------------- small helpers


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


def _log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- phases


def measure_floor(setup_source: str, repeat: int, work: Path) -> dict[str, Any]:
    """A fresh kernel running only ``setup_source``, ``repeat`` times: median wall."""
    runs = []
    for _ in range(repeat):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(setup_source)])
        nb.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3",
            "language": "python",
        }
        run = run_notebook(nb, work)
        if run["error"]:
            raise RuntimeError(f"the setup cell failed in a fresh kernel: {run['error']}")
        runs.append(run)
        _log(
            f"floor: {run['wall']:.2f} s (setup cell {run['setup']:.2f} s, peak "
            f"{run['peak_bytes'] / MiB:.0f} MiB)"
        )
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
    slow = [t for t in run["cells"] if not t["setup"] and t["seconds"] >= CELL_LIMIT]
    _log(
        f"{lesson.name}: wall {run['wall']:.1f} s, compute {run['compute']:.1f} s, peak "
        f"{run['peak_bytes'] / MiB:.0f} MiB" + (f", FAILED: {run['error']}" if run["error"] else "")
    )
    return {"name": lesson.name, **run, "slow_cells": slow}


def measure_nbval(root: Path) -> dict[str, Any]:
    """``pytest -n 2 solutions`` in ``root`` (its conftest.py and sanitize file apply)."""
    command = [sys.executable, *NBVAL_COMMAND]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=root, env=tool_environment(), capture_output=True, text=True)
    seconds = time.perf_counter() - started
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    summary = lines[-1].strip("= ") if lines else done.stderr.strip()[-300:]
    _log(f"nbval: {seconds:.1f} s, exit {done.returncode}: {summary}")
    return {
        "command": "python " + " ".join(NBVAL_COMMAND),
        "seconds": round(seconds, 3),
        "returncode": done.returncode,
        "summary": summary,
    }


def measure_kernel_start(repeat: int, work: Path) -> dict[str, Any]:
    """Kernel start to first idle (the ``kernel_info`` reply), ``repeat`` times each way:
    started the usual way (``KIT_FORK_KERNELS=0``: a new interpreter imports everything)
    and forked from the warm parent (its first start, which starts the parent, excluded)."""
    from jupyter_client.manager import start_new_kernel

    result: dict[str, Any] = {"repeat": repeat}
    for mode, enabled in (("cold", "0"), ("forked", "1")):
        runs = []
        with forking(enabled):
            for attempt in range(repeat + (enabled == "1")):
                started = time.perf_counter()
                km, kc = start_new_kernel(kernel_name="python3", startup_timeout=300, cwd=str(work))
                seconds = time.perf_counter() - started
                was_forked = getattr(km.provisioner, "forked", None) is not None
                kc.execute_interactive("import keras", timeout=300)  # what a lesson's cell 1 needs
                ready = time.perf_counter() - started
                kc.stop_channels()
                km.shutdown_kernel(now=True)
                if enabled == "1" and attempt == 0:
                    continue  # the warm parent's own start
                runs.append({"idle": seconds, "keras": ready, "forked": was_forked})
        result[mode] = {
            "seconds": round(statistics.median(r["idle"] for r in runs), 3),
            "with_keras_seconds": round(statistics.median(r["keras"] for r in runs), 3),
            "runs": [round(r["idle"], 3) for r in runs],
            "forked": sum(r["forked"] for r in runs),
        }
        _log(
            f"kernel start ({mode}): {result[mode]['seconds']:.2f} s to idle, "
            f"{result[mode]['with_keras_seconds']:.2f} s with keras imported "
            f"({result[mode]['forked']}/{len(runs)} forked)"
        )
    return result


@contextlib.contextmanager
def forking(enabled: str) -> Iterator[None]:
    """Set ``KIT_FORK_KERNELS`` for this process and the graders it starts."""
    old = os.environ.get("KIT_FORK_KERNELS")
    os.environ["KIT_FORK_KERNELS"] = enabled
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("KIT_FORK_KERNELS", None)
        else:
            os.environ["KIT_FORK_KERNELS"] = old


# ------------------------------------------------------------------ synthetic class


def learner_ids(learners: int) -> list[str]:
    """Student ids ``learner-01`` ... (zero-padded to the width of ``learners``).

    >>> learner_ids(3), learner_ids(10)[-1]
    (['learner-1', 'learner-2', 'learner-3'], 'learner-10')
    """
    width = len(str(learners))
    return [f"learner-{i:0{width}d}" for i in range(1, learners + 1)]


def left_out_reason(case: Submission) -> str | None:
    """Why ``case`` cannot be in the class both graders grade, or None when it can.

    The class is graded twice, by serial ``nbgrader autograde`` and by ``course grade``, and
    the two gradebooks are compared; so it holds only what plain nbgrader survives:

    * ``grading_fails``: a file nbgrader cannot grade at all; the two graders record it
      differently by design;
    * ``course_grade_only``: a notebook plain nbgrader does not survive (a memory bomb, or
      one that signals its grader: nbgrader is killed, the rest of the class is not graded).

    >>> from course.corpus import Submission, full_marks
    >>> left_out_reason(Submission("bomb", expected=full_marks(), course_grade_only=True))
    'only course grade survives it'
    """
    if case.grading_fails:
        return "nbgrader cannot grade the file at all"
    if case.course_grade_only:
        return "only course grade survives it"
    return None


def class_cases(cases: Sequence[Submission]) -> list[Submission]:
    """The cases of a lesson that go into the class (:func:`left_out_reason` is None)."""
    return [case for case in cases if left_out_reason(case) is None]


def class_layout(
    cases: Mapping[str, Sequence[Submission]], learners: int
) -> dict[str, list[Submission]]:
    """Lesson -> one submission per learner: learner *i* (from 1) hands in case
    ``(i - 1) mod len(cases)`` of every lesson, renamed to the learner's id.

    Only cases both graders can grade are used (:func:`class_cases`). Raises ValueError
    for a lesson without such cases.

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
        usable = class_cases(lesson_cases)
        if not usable:
            raise ValueError(
                f"{lesson} has no gradable submissions in its corpus (tests/corpus/{lesson}.py)"
            )
        layout[lesson] = [
            dataclasses.replace(usable[i % len(usable)], name=student)
            for i, student in enumerate(learner_ids(learners))
        ]
    return layout


def nbgrader_command(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """This environment's ``nbgrader`` with ``args`` in ``cwd``."""
    return subprocess.run(
        [str(Path(sys.executable).parent / "nbgrader"), *args],
        cwd=cwd,
        env=tool_environment(),
        capture_output=True,
        text=True,
    )


def build_class(
    root: Path, lessons: Sequence[Lesson], layout: Mapping[str, Sequence[Submission]], course: Path
) -> None:
    """A temporary nbgrader course in ``course``: the config, the lessons' sources,
    ``generate_assignment`` for each (the gradebook knows them), and every learner's
    submission in ``submitted/<learner>/<lesson>/``."""
    course.mkdir(parents=True)
    shutil.copy(root / CONFIG_FILE, course / CONFIG_FILE)
    for lesson in lessons:
        shutil.copytree(lesson.source_dir, course / "solutions" / lesson.name, ignore=IGNORED)
        done = nbgrader_command("generate_assignment", lesson.name, cwd=course)
        if done.returncode != 0:
            raise RuntimeError(
                f"nbgrader generate_assignment {lesson.name} "
                f"failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
            )
        # Learners start from the committed learner notebook, as in tests/pipeline.
        place_submissions(
            course,
            lesson.name,
            layout[lesson.name],
            lesson.release_notebook,
            lesson.source_notebook,
        )


def read_grades(
    course: Path, course_id: str, lessons: Sequence[str], students: Sequence[str]
) -> dict[str, float | None]:
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
                        grades[f"{student}/{lesson}/{cell_name}"] = (
                            None if score is None else float(score)
                        )
                    except MissingEntry:
                        grades[f"{student}/{lesson}/{cell_name}"] = None
    return grades


def grade_differences(
    a: Mapping[str, float | None], b: Mapping[str, float | None], names: tuple[str, str]
) -> list[str]:
    """One line per grade key where the two gradebooks disagree (or one lacks it).

    >>> serial, parallel = {"s/l/t": 1.0, "s/l/u": 2.0}, {"s/l/t": 1.0, "s/l/u": 0.0}
    >>> grade_differences(serial, parallel, ("nbgrader", "course grade"))
    ['s/l/u: nbgrader 2.0, course grade 0.0']
    """
    return [
        f"{key}: {names[0]} {a.get(key)}, {names[1]} {b.get(key)}"
        for key in sorted(set(a) | set(b))
        if a.get(key) != b.get(key)
    ]


def expected_grades(
    lessons: Sequence[Lesson], layout: Mapping[str, Sequence[Submission]]
) -> dict[str, float]:
    """``"student/lesson/test cell" -> points`` the corpus says each submission earns."""
    expected = {}
    for lesson in lessons:
        points = graded_points(nbformat.read(lesson.source_notebook, as_version=4))
        for submission in layout[lesson.name]:
            for cell_name, value in submission.expected_points(points).items():
                expected[f"{submission.name}/{lesson.name}/{cell_name}"] = value
    return expected


def graded_compute(
    course: Path, lessons: Sequence[str], students: Sequence[str]
) -> dict[str, float]:
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
    done = subprocess.run(
        list(command), cwd=cwd, env=tool_environment(), capture_output=True, text=True
    )
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
        return (
            None,
            "`course grade` is not registered in course/cli.py (pass --grader-cmd to use another "
            "one)",
        )
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
    course_id = load_course_config(root).CourseDirectory.course_id
    expected = expected_grades(lessons, layout)
    result: dict[str, Any] = {
        "lessons": names,
        "learners": learners,
        "notebooks": learners * len(names),
        "workers": workers,
        "cases": {
            name: [s.name for s in class_cases(lesson_corpus(lesson))]
            for name, lesson in zip(names, lessons, strict=True)
        },
        "left_out": {
            name: {s.name: left_out_reason(s) for s in lesson_corpus(lesson) if left_out_reason(s)}
            for name, lesson in zip(names, lessons, strict=True)
        },
        "rule": "learner i (from 1) hands in case (i - 1) mod len(cases) of every lesson",
    }

    serial_dir = work / "class-serial"
    shutil.copytree(template, serial_dir)
    serial_seconds, failures = 0.0, []
    for name in names:
        _log(f"class: nbgrader autograde {name} ({learners} learners, serial)")
        seconds, done = _timed(
            [str(Path(sys.executable).parent / "nbgrader"), "autograde", name], serial_dir
        )
        serial_seconds += seconds
        if done.returncode != 0:
            failures.append(f"nbgrader autograde {name} exited {done.returncode}: {_tail(done)}")
    serial_grades = read_grades(serial_dir, course_id, names, students)
    compute = graded_compute(serial_dir, names, students)
    _log(f"class: serial nbgrader {serial_seconds:.1f} s")
    result["serial"] = {
        "command": "nbgrader autograde LESSON (once per lesson)",
        "seconds": round(serial_seconds, 3),
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
    _log(
        f"class: course grade {seconds:.1f} s, exit {done.returncode}, {len(differences)} grade "
        "differences"
    )
    result["parallel"] = {
        "available": True,
        "command": shlex.join(command),
        "seconds": round(seconds, 3),
        "returncode": done.returncode,
        "output_tail": _tail(done) if done.returncode else "",
        "differences": differences,
        "same_grades": not differences and len(serial_grades) > 0,
        "grades_compared": len(serial_grades),
    }
    return result


# ------------------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lessons",
        nargs="+",
        metavar="LESSON",
        help=f"lessons the class hands in (default: {DEFAULT_LESSON})",
    )
    parser.add_argument(
        "--all-lessons",
        action="store_true",
        help="the class hands in every lesson (30 learners: 180 notebooks)",
    )
    parser.add_argument(
        "--learners",
        type=int,
        default=30,
        help="learners in the synthetic class (default: %(default)s)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=cores(),
        help="course grade --workers (default: cores, %(default)s)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="fresh kernels for the floor, median (default: %(default)s)",
    )
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=[phase for phase in PHASES if phase != "floor"],
        help="leave out a phase (repeatable)",
    )
    parser.add_argument(
        "--grader-cmd",
        metavar="COMMAND",
        help="command line standing for `course grade` (default: this environment's `course "
        "grade`)",
    )
    parser.add_argument(
        "--forking",
        choices=("both", "on", "off"),
        default="both",
        help="kernels forked from a warm parent (on), started the usual way (off), or both, "
        "old and new side by side (default)",
    )
    parser.add_argument(
        "--json", type=Path, help=f"where to write the JSON report (default: <root>/{DEFAULT_JSON})"
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        help="keep the temporary courses here (default: a deleted temp folder)",
    )
    parser.add_argument(
        "--root", type=Path, help="course root (default: nearest folder with nbgrader_config.py)"
    )


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
        "cores": cores(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "tensorflow": version("tensorflow-cpu")
        if version("tensorflow") == "?"
        else version("tensorflow"),
        "keras": version("keras"),
        "nbgrader": version("nbgrader"),
        "nbclient": version("nbclient"),
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
    timeout = cell_timeout(load_course_config(root))
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
            "speedup": SPEEDUP_TARGET,
            "grading_ratio": GRADING_TARGET,
            "nbval_ratio": NBVAL_TARGET,
            "memory_bytes": MEMORY_LIMIT,
            "cell_seconds": CELL_LIMIT,
            "lesson_seconds": LESSON_LIMIT,
        },
    }
    modes = {"both": ("0", "1"), "on": ("1",), "off": ("0",)}[args.forking]
    try:
        with _work_dir(args.work_dir) as work:
            if "kernels" not in args.skip:
                report["kernels"] = measure_kernel_start(max(args.repeat, 3), work)
            runs = {}
            for enabled in modes:
                with forking(enabled):
                    _log(f"--- KIT_FORK_KERNELS={enabled}")
                    part = {"load": {"start": load_average()}}
                    _measure_phases(
                        part,
                        args,
                        root,
                        all_lessons,
                        class_lessons,
                        grader,
                        unavailable,
                        setup.cells[setup_index].source,
                        timeout,
                        work / f"fork-{enabled}",
                    )
                    runs[enabled] = part
    except (RuntimeError, FileExistsError) as error:
        print(f"course bench: {error}", file=sys.stderr)
        return 1
    # The last mode (forked when measured) is the report's own; the other goes under "old".
    report.update(runs[modes[-1]])
    report["forking"] = modes[-1] == "1"
    if len(modes) == 2:
        report["old"] = {**report, **runs["0"], "forking": False}
        report["old"].pop("old", None)
        derive(report["old"])
    derive(report)
    path = write_json(report, args.json or root / DEFAULT_JSON)
    if "old" in report:
        print("=== kernels started the usual way (KIT_FORK_KERNELS=0)")
        print(format_report(report["old"]))
        print("\n=== kernels forked from a warm parent (KIT_FORK_KERNELS=1)")
    print(format_report(report))
    print("\n" + format_comparison(report))
    print(f"\nJSON: {path}")
    broken = any(_broken(r) for r in (report, report.get("old") or {}))
    return 1 if broken else 0


def _broken(report: dict[str, Any]) -> bool:
    return (
        any(lesson.get("error") for lesson in report.get("lessons", []))
        or (report.get("nbval") or {}).get("returncode") not in (None, 0)
        or bool((report.get("class") or {}).get("serial", {}).get("failures"))
        or (report.get("class") or {}).get("parallel", {}).get("same_grades") is False
    )


def _measure_phases(
    report: dict[str, Any],
    args: argparse.Namespace,
    root: Path,
    all_lessons: list[Lesson],
    class_lessons: list[Lesson],
    grader: list[str] | None,
    unavailable: str | None,
    setup_source: str,
    timeout: int,
    work: Path,
) -> None:
    """The floor, lessons, nbval and class phases (those not skipped) into ``report``."""
    work.mkdir(parents=True)
    report["floor"] = measure_floor(setup_source, args.repeat, work)
    report["load"]["after floor"] = load_average()
    if "lessons" not in args.skip:
        report["lessons"] = [measure_lesson(lesson, work, timeout) for lesson in all_lessons]
        report["load"]["after lessons"] = load_average()
    if "nbval" not in args.skip:
        report["nbval"] = measure_nbval(root)
        report["load"]["after nbval"] = load_average()
    if "class" not in args.skip:
        report["class"] = measure_class(
            root, class_lessons, args.learners, args.workers, grader, unavailable, work
        )
        report["load"]["after class"] = load_average()
