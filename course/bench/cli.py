"""The ``course bench`` command: its options, and one run of every phase with the report."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import sys
import tempfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import nbformat

from course.bench.classroom import grader_command, measure_class
from course.bench.helpers_speed import format_helpers, measure_helpers
from course.bench.integrity import measure_integrity
from course.bench.notebook_timing import (
    setup_cell_index,
)
from course.bench.phases import (
    cores,
    forking,
    load_average,
    measure_floor,
    measure_kernel_start,
    measure_lesson,
    measure_nbval,
    measure_suite,
    progress,
)
from course.bench.report import (
    CELL_LIMIT,
    GRADING_TARGET,
    LESSON_LIMIT,
    MEMORY_LIMIT,
    NBVAL_TARGET,
    SPEEDUP_TARGET,
    derive,
    write_json,
)
from course.bench.table import format_comparison, format_report
from course.config import (
    cell_timeout,
    find_root,
    load_course_config,
)
from course.lessons import Lesson, find_lessons

#: Lesson graded by default: the core idea of the kit, an average-sized notebook.
DEFAULT_LESSON = "01_shared_layers"
DEFAULT_JSON = Path("artifacts") / "bench" / "bench.json"
PHASES = ("kernels", "floor", "lessons", "integrity", "nbval", "class", "helpers")


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
        "--time-limit",
        type=int,
        metavar="SECONDS",
        help="per-cell time limit with which both graders grade the class (default: the "
        "course's Execute.timeout; one endless loop in the class costs that much)",
    )
    parser.add_argument(
        "--suite",
        action="store_true",
        help="also time the whole test suite (`make test`, as CI runs it; about 15 to 20 "
        "minutes on 2 cores, per --forking mode)",
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
        "--course-dir",
        type=Path,
        help="nbgrader course directory (default: nearest folder with nbgrader_config.py)",
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
        root, all_lessons, class_lessons = _checked_arguments(args)
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
            if "helpers" not in args.skip:
                progress("helpers on four big models (TensorFlow, JAX)")
                report["helpers"] = measure_helpers()
            runs = {}
            for enabled in modes:
                with forking(enabled):
                    progress(f"--- KIT_FORK_KERNELS={enabled}")
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
    _combine(report, runs, modes)
    path = write_json(report, args.json or root / DEFAULT_JSON)
    _print_report(report)
    print(f"\nJSON: {path}")
    broken = any(_broken(r) for r in (report, report.get("old") or {}))
    return 1 if broken else 0


def _checked_arguments(args: argparse.Namespace) -> tuple[Path, list[Lesson], list[Lesson]]:
    """The course folder, all its lessons and the class's; ValueError or FileNotFoundError
    with the message to print when the arguments do not allow a run."""
    root = args.course_dir.resolve() if args.course_dir else find_root()
    all_lessons = find_lessons(root)
    names = None if args.all_lessons else (args.lessons or [DEFAULT_LESSON])
    class_lessons = find_lessons(root, names)
    if args.learners < 1 or args.workers < 1 or args.repeat < 1:
        raise ValueError("--learners, --workers and --repeat must be at least 1")
    if args.time_limit is not None and args.time_limit < 1:
        raise ValueError("--time-limit must be at least 1 second")
    return root, all_lessons, class_lessons


def _combine(report: dict[str, Any], runs: dict[str, dict], modes: tuple[str, ...]) -> None:
    """Put the runs of each forking mode into ``report`` and derive the figures: the last
    mode (forked when measured) is the report's own; the other goes under "old"."""
    report.update(runs[modes[-1]])
    report["forking"] = modes[-1] == "1"
    if len(modes) == 2:
        report["old"] = {**report, **runs["0"], "forking": False}
        report["old"].pop("old", None)
        derive(report["old"])
    derive(report)


def _print_report(report: dict[str, Any]) -> None:
    if "old" in report:
        print("=== kernels started the usual way (KIT_FORK_KERNELS=0)")
        print(format_report(report["old"]))
        print("\n=== kernels forked from a warm parent (KIT_FORK_KERNELS=1)")
    print(format_report(report))
    if report.get("helpers"):
        print("\n" + format_helpers(report["helpers"]))
    print("\n" + format_comparison(report))


def _broken(report: dict[str, Any]) -> bool:
    return (
        any(lesson.get("error") for lesson in report.get("lessons", []))
        or (report.get("nbval") or {}).get("returncode") not in (None, 0)
        or (report.get("suite") or {}).get("returncode") not in (None, 0)
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
    if "integrity" not in args.skip:
        report["integrity"] = measure_integrity(root)
    if "nbval" not in args.skip:
        report["nbval"] = measure_nbval(root)
        report["load"]["after nbval"] = load_average()
    if "class" not in args.skip:
        report["class"] = measure_class(
            root,
            class_lessons,
            args.learners,
            args.workers,
            grader,
            unavailable,
            work,
            args.time_limit,
        )
        report["load"]["after class"] = load_average()
    if args.suite:
        report["suite"] = measure_suite(root)
        report["load"]["after suite"] = load_average()
