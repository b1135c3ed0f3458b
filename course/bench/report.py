"""The figures of ``course bench``: ratios to the floor, the issue's targets with PASS /
MISS, the table printed on stdout and the JSON file.

A report is a plain dict (what ends up in the JSON); :func:`derive` adds the ratios and
the targets to the raw measurements; :mod:`course.bench.table` turns it into text.

Example::

    report = derive({"floor": {...}, "lessons": [...], "nbval": {...}, "class": {...}})
    print(course.bench.table.format_report(report))
    write_json(report, Path("artifacts/bench/bench.json"))
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from course.grading.settings import GiB, MiB

#: The issue's targets.
CELL_LIMIT = 3.0  # s of own compute per cell (setup cell excluded)
LESSON_LIMIT = 20.0  # s of own compute per lesson
MEMORY_LIMIT = 1 * GiB  # kernel peak per lesson
SPEEDUP_TARGET = 1.8  # course grade vs serial nbgrader on 2 cores
GRADING_TARGET = 1.3  # course grade worker-seconds per notebook / (floor + its compute)
NBVAL_TARGET = 1.5  # nbval wall / sum over lessons of (floor + compute)


def ratio(value: float | None, reference: float | None) -> float | None:
    """``value / reference``, or None when either is missing or the reference is not positive.

    >>> ratio(6.0, 4.0), ratio(1.0, 0.0), ratio(None, 2.0)
    (1.5, None, None)
    """
    if value is None or reference is None or reference <= 0:
        return None
    return value / reference


# -------------------------------------------------------------------- derived figures


def derive(report: dict[str, Any]) -> dict[str, Any]:
    """Add the ratios to the floor, the references and the targets to a raw ``report``
    (the dict :func:`course.bench.run` builds; tests/course/bench/test_bench.py has a small
    one)."""
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
        # floor + the compute of each graded notebook: its own timing (nbgrader keeps it), or
        # the solution's for a notebook without one
        compute = klass.get("notebook_compute", {})
        reference = 0.0
        for name in klass["lessons"]:
            timed = [seconds for key, seconds in compute.items() if key.endswith(f"/{name}")]
            untimed = klass["learners"] - len(timed)
            reference += (
                klass["learners"] * floor
                + sum(timed)
                + untimed * by_name.get(name, {}).get("compute", 0.0)
            )
        klass["reference_seconds"] = round(reference, 3)
        notebooks = klass["notebooks"]
        serial = klass["serial"]
        serial["per_notebook"] = serial["seconds"] / notebooks
        serial["ratio"] = ratio(serial["seconds"], reference)
        serial["floor_ratio"] = ratio(serial["per_notebook"], floor)
        parallel = klass.get("parallel", {})
        if parallel.get("available"):
            parallel["per_notebook"] = parallel["seconds"] / notebooks
            parallel["worker_seconds_per_notebook"] = (
                parallel["seconds"] * klass["workers"] / notebooks
            )
            parallel["ratio"] = ratio(parallel["seconds"] * klass["workers"], reference)
            parallel["floor_ratio"] = ratio(parallel["per_notebook"], floor)
            klass["speedup"] = ratio(serial["seconds"], parallel["seconds"])
    report["targets"] = targets(report)
    return report


def _status(
    measured: float | None, limit: float, higher_is_better: bool = False, strict: bool = False
) -> str:
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
    rows.append(
        {
            "name": "class autograding: course grade vs serial nbgrader "
            f"({workers or '?'} workers)",
            "target": f">= {SPEEDUP_TARGET}x faster on 2 cores",
            "measured": speedup,
            "unit": "x",
            "status": _status(speedup, SPEEDUP_TARGET, higher_is_better=True),
            "note": parallel.get("reason")
            or (
                f"measured on {report['machine']['cores']} cores"
                if speedup is not None and report.get("machine", {}).get("cores", 2) != 2
                else ""
            ),
        }
    )
    rows.append(
        {
            "name": "course grade per notebook (worker-seconds) vs floor + its compute",
            "target": f"<= {GRADING_TARGET}x",
            "measured": parallel.get("ratio"),
            "unit": "x",
            "status": _status(parallel.get("ratio"), GRADING_TARGET),
            "note": "",
        }
    )
    rows.append(
        {
            "name": "same grades from nbgrader and course grade",
            "target": "identical gradebooks",
            "measured": grades_ok,
            "unit": "",
            "status": "N/A" if grades_ok is None else ("PASS" if grades_ok else "MISS"),
            "note": f"{len(parallel.get('differences', []))} differences"
            if grades_ok is False
            else "",
        }
    )
    nbval = report.get("nbval") or {}
    rows.append(
        {
            "name": "nbval (pytest -n 2 solutions) vs sum over lessons of floor + compute",
            "target": f"<= {NBVAL_TARGET}x",
            "measured": nbval.get("ratio"),
            "unit": "x",
            "status": "MISS"
            if nbval.get("returncode") not in (None, 0)
            else _status(nbval.get("ratio"), NBVAL_TARGET),
            "note": f"pytest exited {nbval['returncode']}"
            if nbval.get("returncode") not in (None, 0)
            else "",
        }
    )
    lessons = report.get("lessons") or []
    worst_memory = max(lessons, key=lambda lesson: lesson["peak_bytes"], default=None)
    rows.append(
        {
            "name": "kernel peak memory, worst lesson",
            "target": "< 1 GiB per lesson",
            "measured": worst_memory and worst_memory["peak_bytes"] / MiB,
            "unit": "MiB",
            "status": _status(
                worst_memory and worst_memory["peak_bytes"], MEMORY_LIMIT, strict=True
            ),
            "note": worst_memory["name"] if worst_memory else "",
        }
    )
    cells = [
        (lesson["name"], cell)
        for lesson in lessons
        for cell in lesson["cells"]
        if not cell["setup"]
    ]
    worst_cell = max(cells, key=lambda item: item[1]["seconds"], default=None)
    rows.append(
        {
            "name": "slowest cell, own compute (setup cell excluded)",
            "target": f"< {CELL_LIMIT:g} s every cell",
            "measured": worst_cell and worst_cell[1]["seconds"],
            "unit": "s",
            "status": _status(worst_cell and worst_cell[1]["seconds"], CELL_LIMIT, strict=True),
            "note": f"{worst_cell[0]} cell {worst_cell[1]['index']}" if worst_cell else "",
        }
    )
    worst_lesson = max(lessons, key=lambda lesson: lesson["compute"], default=None)
    failed = [lesson["name"] for lesson in lessons if lesson.get("error")]
    rows.append(
        {
            "name": "slowest lesson, own compute",
            "target": f"< {LESSON_LIMIT:g} s every lesson",
            "measured": worst_lesson and worst_lesson["compute"],
            "unit": "s",
            "status": "MISS"
            if failed
            else _status(worst_lesson and worst_lesson["compute"], LESSON_LIMIT, strict=True),
            "note": ("failed: " + ", ".join(failed))
            if failed
            else (worst_lesson["name"] if worst_lesson else ""),
        }
    )
    return rows


# ---------------------------------------------------------------------------- report


def write_json(report: Mapping[str, Any], path: Path) -> Path:
    """Write ``report`` as indented JSON (folders created); returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return path
