"""Benchmark ``course grade`` against serial ``nbgrader autograde`` on one lesson.

Builds a class of ``--learners`` submissions from the lesson's corpus (``tests/corpus/``,
cycled), grades identical copies of it with each method (both as command-line processes,
start-up included) and prints wall times, time per notebook and whether the gradebooks
agree. Nothing is written to the repository.

Example::

    $ python -m course.grade_benchmark 00_layers_calls_variables --learners 10 --workers 2
    $ python -m course.grade_benchmark 00_fixture --root tests/pipeline/fixtures/course --learners 20
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from nbgrader.api import Gradebook

from course.autograder import load_course_config
from course.corpus import lesson_corpus, place_submissions
from course.kernels import KERNEL_ENV
from course.lessons import CONFIG_FILE, find_lessons, find_root

BIN = Path(sys.executable).parent


def _run(command: list[str], cwd: Path) -> tuple[float, subprocess.CompletedProcess]:
    env = {**os.environ, **{k: v for k, v in KERNEL_ENV.items() if k.startswith("TF_")}}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    return time.perf_counter() - started, result


def _scores(course: Path, lesson: str) -> dict[str, dict[str, float]]:
    course_id = load_course_config(course).CourseDirectory.course_id
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id) as gb:
        return {
            s.student_id: {g.name: float(g.score) for g in gb.find_submission_notebook(lesson, lesson, s.student_id).grades}
            for s in gb.find_assignment(lesson).submissions
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lesson")
    parser.add_argument("--root", type=Path, help="course root (default: this repository)")
    parser.add_argument("--learners", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-nbgrader", action="store_true", help="time course grade only")
    parser.add_argument("--cold", action="store_true", help="also time course grade --warm 0 (no pipelining)")
    args = parser.parse_args(argv)

    lesson = find_lessons((args.root or find_root()).resolve(), [args.lesson])[0]
    cases = lesson_corpus(lesson)
    cases = [replace(cases[i % len(cases)], name=f"{cases[i % len(cases)].name}-{i}") for i in range(args.learners)]
    with tempfile.TemporaryDirectory(prefix="grade-benchmark-") as tmp:
        template = Path(tmp) / "template"
        template.mkdir()
        shutil.copy(lesson.root / CONFIG_FILE, template / CONFIG_FILE)
        shutil.copytree(lesson.source_dir, template / "solutions" / lesson.name)
        _, generated = _run([str(BIN / "nbgrader"), "generate_assignment", lesson.name], template)
        if generated.returncode:
            print(generated.stdout + generated.stderr, file=sys.stderr)
            return 1
        place_submissions(template, lesson.name, cases, lesson.release_notebook, lesson.source_notebook)

        methods = {} if args.skip_nbgrader else {"nbgrader autograde (serial)": [str(BIN / "nbgrader"), "autograde", lesson.name]}
        grade = [str(BIN / "course"), "grade", lesson.name, "--workers", str(args.workers)]
        methods[f"course grade --workers {args.workers}"] = grade
        if args.cold:
            methods[f"course grade --workers {args.workers} --warm 0"] = [*grade, "--warm", "0"]

        print(f"{lesson.name}: {len(cases)} learners, {os.cpu_count()} cores, load average "
              f"{os.getloadavg()[0]:.1f} at start")
        results = {}
        for name, command in methods.items():
            course = Path(tmp) / f"run{len(results)}"
            shutil.copytree(template, course)
            seconds, result = _run(command, course)
            results[name] = (seconds, _scores(course, lesson.name))
            summary = [line.strip() for line in result.stdout.splitlines() if line.startswith(("course grade: ", "  per"))]
            print(f"  {name:<40} {seconds:7.1f} s  {seconds / len(cases):5.2f} s per notebook"
                  f"  (exit {result.returncode}; load {os.getloadavg()[0]:.1f})")
            for line in summary[1:]:
                print(f"      {line}")
        reference = next(iter(results.values()))[1]
        for name, (_, scores) in results.items():
            print(f"  {name}: gradebook {'==' if scores == reference else '!='} the first method's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
