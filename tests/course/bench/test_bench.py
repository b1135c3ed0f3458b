"""course bench (course/bench/, bench_report.py, notebook_timing.py): the parts that
need no TensorFlow and no timing (ratios, targets, the table and JSON, the synthetic
class), plus tiny notebook runs that check the cell timings and the memory sampler
measure something real."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import nbformat
import pytest

import course.bench.classroom
import course.bench.notebook_timing
import course.bench.phases
import course.bench.report
import course.cli
from course.bench import (
    class_layout,
    grade_differences,
    grader_command,
    learner_ids,
    left_out_reason,
)
from course.bench.notebook_timing import cell_times, own_compute, run_notebook
from course.bench.report import GiB, MiB, derive, ratio, write_json
from course.bench.table import format_report
from course.corpus import Submission, full_marks, lesson_corpus, no_marks
from course.lessons import find_lessons

ROOT = Path(__file__).resolve().parents[3]
FIXTURE_COURSE = Path(__file__).resolve().parents[2] / "pipeline" / "fixtures" / "course"


def test_bench_is_a_course_subcommand():
    assert course.cli.SUBCOMMANDS["bench"][0] == "course.bench.cli"


def test_ratio():
    assert ratio(6.0, 4.0) == 1.5
    assert ratio(3.0, 0.0) is None
    assert ratio(None, 4.0) is None
    assert ratio(3.0, None) is None


# --------------------------------------------------------------------- the class


def test_learner_ids_sort_in_class_order():
    ids = learner_ids(30)
    assert ids[0] == "learner-01" and ids[-1] == "learner-30"
    assert ids == sorted(ids) and len(set(ids)) == 30


def test_class_layout_cycles_through_the_corpus_of_every_lesson():
    cases = [
        Submission("correct", expected=full_marks()),
        Submission("untouched", base="blank", expected=no_marks()),
        Submission("wrong", answers={"ex": "x = 0"}, expected=no_marks()),
    ]
    layout = class_layout({"00_a": cases, "01_b": cases[:2]}, 7)
    assert [s.name for s in layout["00_a"]] == learner_ids(7) == [s.name for s in layout["01_b"]]
    # learner i hands in case (i - 1) mod len(cases), with that case's answers and grade
    assert [s.answers for s in layout["00_a"]] == [{}, {}, {"ex": "x = 0"}] * 2 + [{}]
    assert [s.base for s in layout["00_a"]][:3] == ["solution", "blank", "solution"]
    assert [s.base for s in layout["01_b"]] == ["solution", "blank"] * 3 + ["solution"]
    assert layout["00_a"][2].expected == no_marks()


def test_class_layout_leaves_out_ungradable_notebooks():
    (fixture,) = find_lessons(FIXTURE_COURSE)
    corpus = lesson_corpus(fixture)
    assert any(c.grading_fails for c in corpus), "the fixture corpus should hold an ungradable case"
    layout = class_layout({fixture.name: corpus}, 2 * len(corpus))
    assert not any(s.grading_fails for s in layout[fixture.name])
    usable = [c.name for c in corpus if not c.grading_fails]
    assert [s.answers for s in layout[fixture.name][: len(usable)]] == [
        c.answers for c in corpus if not c.grading_fails
    ]


def test_class_layout_leaves_out_what_plain_nbgrader_does_not_survive():
    # Lesson 01's corpus holds a memory bomb and a notebook that signals its grader: serial
    # nbgrader is killed by them, so a class with them compares a half-graded run.
    (lesson,) = find_lessons(ROOT, ["01_shared_layers"])
    corpus = lesson_corpus(lesson)
    only_course_grade = {c.name for c in corpus if c.course_grade_only}
    assert only_course_grade, "lesson 01's corpus should hold cases only course grade survives"
    layout = class_layout({lesson.name: corpus}, 3 * len(corpus))[lesson.name]
    assert not any(s.course_grade_only or s.grading_fails for s in layout)
    kept = [c for c in corpus if left_out_reason(c) is None]
    assert [(s.base, s.answers, s.transform) for s in layout[: len(kept)]] == [
        (c.base, c.answers, c.transform) for c in kept
    ]
    assert {
        c.name for c in corpus if left_out_reason(c) == "only course grade survives it"
    } == only_course_grade


def test_course_bench_runs_end_to_end(tmp_path):
    """The whole command on the fixture course: every phase but nbval, both graders, JSON."""
    report_path = tmp_path / "bench.json"
    code = course.cli.main(
        [
            "bench",
            "--course-dir",
            str(FIXTURE_COURSE),
            "--lessons",
            "00_fixture",
            "--learners",
            "4",
            "--workers",
            "2",
            "--repeat",
            "1",
            "--skip",
            "nbval",
            "--skip",
            "helpers",  # timed on its own: python -m course.bench.helpers_speed
            "--time-limit",
            "30",
            "--json",
            str(report_path),
            "--work-dir",
            str(tmp_path / "work"),
        ]
    )
    report = json.loads(report_path.read_text())
    klass = report["class"]
    assert code == 0, json.dumps(klass, indent=1)[:3000]
    assert klass["serial"]["failures"] == [] and klass["serial"]["expected_mismatches"] == []
    assert klass["parallel"]["same_grades"] is True and klass["parallel"]["grades_compared"] > 0
    assert klass["left_out"] == {
        "00_fixture": {"invalid_json": "nbgrader cannot grade the file at all"}
    }
    assert klass["time_limit"] == 30  # both graders: the course's config says so
    config = (tmp_path / "work" / "fork-1" / "class-template" / "nbgrader_config.py").read_text()
    assert config.rstrip().endswith("c.Execute.timeout = c.ExecutePreprocessor.timeout = 30")
    assert [lesson["name"] for lesson in report["lessons"]] == ["00_fixture"]
    assert report["floor"]["seconds"] > 0 and klass["speedup"] > 0


def test_measure_suite_times_the_command_and_reads_pytest_summaries(tmp_path):
    """The suite phase runs the given command in the root (the real one is `make test`)."""
    script = (
        "import pathlib; print(pathlib.Path('marker').read_text()); "
        "print('=== 7 passed, 1 skipped in 3.00s ==='); print('== 2 failed, 5 passed in 1.0s ==')"
    )
    (tmp_path / "marker").write_text("in the root")
    ok = course.bench.phases.measure_suite(tmp_path, (sys.executable, "-c", script))
    assert ok["returncode"] == 0 and ok["seconds"] > 0 and ok["output_tail"] == ""
    assert ok["summaries"] == ["7 passed, 1 skipped in 3.00s", "2 failed, 5 passed in 1.0s"]
    failing = course.bench.phases.measure_suite(
        tmp_path, (sys.executable, "-c", "raise SystemExit('tests failed')")
    )
    assert failing["returncode"] == 1 and "tests failed" in failing["output_tail"]
    assert course.bench.phases.SUITE_COMMAND == ("make", "--no-print-directory", "test")


def test_class_layout_refuses_an_empty_corpus_or_class():
    broken = Submission("broken", expected=no_marks(), grading_fails=True)
    with pytest.raises(ValueError, match="00_a has no gradable submissions"):
        class_layout({"00_a": [broken]}, 3)
    with pytest.raises(ValueError, match="at least one learner"):
        class_layout({"00_a": [Submission("correct", expected=full_marks())]}, 0)


def test_grade_differences_names_every_disagreement():
    serial = {"l1/a/t1": 2.0, "l1/a/t2": 1.0, "l2/a/t1": 0.0}
    parallel = {"l1/a/t1": 2.0, "l1/a/t2": 0.0, "l2/a/t1": None}
    assert grade_differences(serial, parallel, ("nbgrader", "course grade")) == [
        "l1/a/t2: nbgrader 1.0, course grade 0.0",
        "l2/a/t1: nbgrader 0.0, course grade None",
    ]
    assert grade_differences(serial, {**serial}, ("a", "b")) == []
    assert grade_differences(
        serial, {k: v for k, v in serial.items() if k != "l1/a/t1"}, ("a", "b")
    ) == ["l1/a/t1: a 2.0, b None"]


def test_grader_command(monkeypatch):
    assert grader_command("env X=1 python -m course.cli grade") == (
        ["env", "X=1", "python", "-m", "course.cli", "grade"],
        None,
    )
    monkeypatch.setitem(course.cli.SUBCOMMANDS, "grade", ("course.grading.cli", "grade"))
    command, why = grader_command(None)
    assert command[-1] == "grade" and Path(command[0]).name == "course" and why is None
    monkeypatch.delitem(course.cli.SUBCOMMANDS, "grade")
    assert grader_command(None) == (None, grader_command(None)[1])
    assert "not registered" in grader_command(None)[1]


# ------------------------------------------------------------------- cell timings


def _timed_notebook(seconds: list[float]) -> nbformat.NotebookNode:
    """A notebook whose code cells carry nbclient timing metadata of ``seconds``."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# 00 · Title")])
    for i, s in enumerate(seconds):
        code = nbformat.v4.new_code_cell(
            f"# step {i}\nkeras.backend.clear_session()\nmodel_{i} = build()"
        )
        start = 10.0 * i
        code.metadata["execution"] = {
            "iopub.execute_input": f"2026-01-01T00:00:{start:09.6f}Z",
            "shell.execute_reply": f"2026-01-01T00:00:{start + s:09.6f}Z",
        }
        nb.cells.append(code)
    nb.cells.append(nbformat.v4.new_code_cell("never_run()"))  # no timing: left out
    return nb


def test_cell_times_and_own_compute():
    times = cell_times(_timed_notebook([4.5, 0.25, 3.5]))
    assert [t["index"] for t in times] == [1, 2, 3]
    assert [t["seconds"] for t in times] == [4.5, 0.25, 3.5]
    assert [t["setup"] for t in times] == [True, False, False]
    assert times[1]["label"] == "model_1 = build()"
    assert own_compute(times) == 3.75  # the setup cell (4.5 s) is the floor's, not the lesson's


def test_cell_times_names_nbgrader_cells():
    nb = _timed_notebook([1.0, 2.0])
    nb.cells[2].metadata["nbgrader"] = {"grade_id": "ex1_siamese", "solution": True}
    assert cell_times(nb)[1]["label"] == "[ex1_siamese] model_1 = build()"


def test_run_notebook_times_cells_and_samples_the_kernels_memory(tmp_path):
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("import os"),
            nbformat.v4.new_code_cell(
                "block = bytearray(300 * 2**20)\nblock[::4096] = b'x' * len(block[::4096])"
            ),
            nbformat.v4.new_code_cell("print(len(block))"),
        ]
    )
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    run = run_notebook(nb, tmp_path, timeout=60)
    assert run["error"] is None
    assert nb.cells[2].outputs[0]["text"].strip() == str(300 * 2**20)
    assert [c["setup"] for c in run["cells"]] == [True, False, False]
    assert run["compute"] == own_compute(run["cells"]) > 0
    assert run["wall"] > run["compute"]
    assert run["peak_bytes"] > 300 * MiB  # the 300 MiB the kernel touched are seen


def test_run_notebook_reports_a_failing_cell(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 / 0")])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    run = run_notebook(nb, tmp_path, timeout=60)
    assert run["error"] and "ZeroDivisionError" in run["error"]


# --------------------------------------------------------------- figures and report


def _lesson(name: str, wall: float, cells: list[float], peak: int) -> dict:
    times = [
        {"index": i + 1, "seconds": s, "label": f"c{i}", "setup": i == 0}
        for i, s in enumerate(cells)
    ]
    slow = [t for t in times if not t["setup"] and t["seconds"] >= 3.0]
    return {
        "name": name,
        "wall": wall,
        "compute": own_compute(times),
        "setup": cells[0],
        "cells": times,
        "peak_bytes": peak,
        "error": None,
        "slow_cells": slow,
    }


@pytest.fixture
def report() -> dict:
    """A small raw report, as `course bench` assembles it before :func:`derive`."""
    return {
        "started": "2026-01-01T00:00:00",
        "machine": {"cores": 2, "tensorflow": "2.21.0", "keras": "3.15.1", "nbgrader": "0.9.6"},
        "load": {"start": [0.5, 0.4, 0.3], "after class": [1.9, 1.0, 0.5]},
        "floor": {
            "seconds": 5.0,
            "runs": [5.2, 5.0, 4.9],
            "setup_cell_seconds": 3.8,
            "peak_bytes": 540 * MiB,
            "repeat": 3,
            "source": "import keras",
        },
        "lessons": [
            _lesson("00_a", 9.0, [3.9, 1.0, 2.0], 600 * MiB),  # compute 3 s
            _lesson("01_b", 12.0, [3.9, 2.5, 2.5, 2.0], 700 * MiB),  # compute 7 s
        ],
        "nbval": {
            "command": "python -m pytest -n 2 solutions",
            "seconds": 20.0,
            "returncode": 0,
            "summary": "30 passed in 19.0s",
        },
        "class": {
            "lessons": ["00_a"],
            "learners": 4,
            "notebooks": 4,
            "workers": 2,
            "cases": {"00_a": ["correct", "untouched"]},
            "rule": "...",
            "notebook_compute": {
                "learner-1/00_a": 3.0,
                "learner-2/00_a": 1.0,
                "learner-3/00_a": 3.0,
            },
            "serial": {
                "command": "nbgrader autograde",
                "seconds": 40.0,
                "failures": [],
                "expected_mismatches": [],
            },
            "parallel": {
                "available": True,
                "command": "course grade",
                "seconds": 15.0,
                "returncode": 0,
                "output_tail": "",
                "differences": [],
                "same_grades": True,
                "grades_compared": 8,
            },
        },
    }


def _target(report: dict, start: str) -> dict:
    (row,) = [t for t in report["targets"] if t["name"].startswith(start)]
    return row


def test_derive_relates_every_figure_to_the_floor(report):
    derive(report)
    a, b = report["lessons"]
    assert a["wall_ratio"] == pytest.approx(9.0 / 5.0) and a["compute_ratio"] == pytest.approx(
        3.0 / 5.0
    )
    assert a["reference_seconds"] == 8.0 and b["reference_seconds"] == 12.0
    # nbval against the sum over lessons of (floor + compute)
    assert report["nbval"]["reference_seconds"] == 20.0 and report["nbval"][
        "ratio"
    ] == pytest.approx(1.0)
    klass = report["class"]
    # each notebook's own compute; learner-4 has none recorded: the lesson's (3.0) stands in
    assert klass["reference_seconds"] == pytest.approx(4 * 5.0 + 3.0 + 1.0 + 3.0 + 3.0)
    assert klass["speedup"] == pytest.approx(40 / 15)
    assert klass["serial"]["per_notebook"] == 10.0 and klass["serial"]["ratio"] == pytest.approx(
        40 / 30
    )
    parallel = klass["parallel"]
    assert parallel["per_notebook"] == 3.75 and parallel["worker_seconds_per_notebook"] == 7.5
    assert parallel["ratio"] == pytest.approx(15.0 * 2 / 30)


def test_targets_pass_and_miss(report):
    derive(report)
    assert {t["status"] for t in report["targets"]} == {"PASS"}, report["targets"]

    slow = copy.deepcopy(report)
    slow["lessons"][1] = _lesson("01_b", 30.0, [3.9, 3.2, 17.0, 1.0], int(1.2 * GiB))
    slow["class"]["parallel"]["seconds"] = (
        30.0  # speedup 1.33x, 2 x 30 s of worker time for 30 s of work
    )
    slow["nbval"]["seconds"] = 60.0
    derive(slow)
    assert _target(slow, "class autograding")["status"] == "MISS"
    assert _target(slow, "course grade per notebook")["status"] == "MISS"
    assert _target(slow, "nbval")["status"] == "MISS"
    memory = _target(slow, "kernel peak memory")
    assert memory["status"] == "MISS" and memory["note"] == "01_b"
    cell = _target(slow, "slowest cell")
    assert cell["status"] == "MISS" and cell["measured"] == 17.0 and cell["note"] == "01_b cell 3"
    assert _target(slow, "slowest lesson")["status"] == "MISS"  # 21.2 s of own compute


def test_targets_without_a_parallel_grader_are_not_applicable(report):
    report["class"]["parallel"] = {"available": False, "reason": "`course grade` is not registered"}
    derive(report)
    assert _target(report, "class autograding")["status"] == "N/A"
    assert _target(report, "same grades")["status"] == "N/A"
    text = format_report(report)
    assert "course grade not available: `course grade` is not registered" in text


def test_different_grades_are_a_miss(report):
    report["class"]["parallel"].update(
        same_grades=False, differences=["learner-2/00_a/t: nbgrader 1.0, course grade 0.0"]
    )
    derive(report)
    assert _target(report, "same grades")["status"] == "MISS"
    assert "learner-2/00_a/t: nbgrader 1.0, course grade 0.0" in format_report(report)


def test_format_report_shows_figures_ratios_and_targets(report):
    text = format_report(derive(report))
    lines = text.splitlines()
    assert "load average (1/5/15 min): start 0.50 0.40 0.30, after class 1.90 1.00 0.50" in lines
    assert any(line.startswith("Floor") and "5.00 s [5.20, 5.00, 4.90]" in line for line in lines)
    (row,) = [line for line in lines if line.startswith("01_b")]
    assert row.split()[:9] == ["01_b", "12.0", "s", "2.40x", "7.0", "s", "1.40x", "700", "2.50"]
    assert "Cells over 3 s of own compute: none" in lines
    (serial,) = [line for line in lines if "nbgrader autograde (serial)" in line]
    assert "40.0 s" in serial and "10.0 s" in serial and "2.00x" in serial and "1.33x" in serial
    (parallel,) = [line for line in lines if "course grade --workers 2" in line]
    assert (
        "15.0 s" in parallel and "(7.5 s x 2)" in parallel and "1.00x (worker-seconds)" in parallel
    )
    assert "  speedup 2.67x; same grades (8 test cells compared)" in lines
    (speedup,) = [line for line in lines if "class autograding" in line]
    assert ">= 1.8x faster on 2 cores" in speedup and "2.67x" in speedup and "PASS" in speedup


def test_json_round_trip(report, tmp_path):
    derive(report)
    path = write_json(report, tmp_path / "deep" / "bench.json")
    again = json.loads(path.read_text())
    assert again == json.loads(json.dumps(report))
    assert [t["status"] for t in again["targets"]] == [t["status"] for t in report["targets"]]


def test_a_kernel_started_as_nbgrader_autograde_does_is_boxed_and_timed(tmp_path, monkeypatch):
    """The kernels phase's third way (what the box costs): a grading kernel of plain
    ``nbgrader autograde``, boxed by the kit's provisioner; the other ways are not."""
    from course.bench.phases import _grading_kernels, _start_kernel
    from course.isolation.kernels import box_available

    if not box_available():
        pytest.skip("no box on this machine (namespaces unavailable): nothing to time")
    monkeypatch.setenv("KIT_FORK_DIR", str(tmp_path / "forks"))
    with _grading_kernels(True):
        boxed = _start_kernel(tmp_path)
    plain = _start_kernel(tmp_path)
    assert boxed["boxed"] and not plain["boxed"]
    assert 0 < boxed["idle"] <= boxed["keras"]
