"""The figures of ``course bench``: ratios to the floor, the issue's targets with PASS /
MISS, the table printed on stdout and the JSON file.

A report is a plain dict (what ends up in the JSON); :func:`derive` adds the ratios and
the targets to the raw measurements, :func:`format_report` turns it into text.

Example::

    report = derive({"floor": {...}, "lessons": [...], "nbval": {...}, "class": {...}})
    print(format_report(report))
    write_json(report, Path("artifacts/bench/bench.json"))
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from course.bench.integrity import format_integrity
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
    (the dict :func:`course.bench.run` builds; see tests/course/test_bench.py for a small one)."""
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
        "  ".join(
            cell.rjust(w) if r else cell.ljust(w)
            for cell, w, r in zip(row, widths, right, strict=False)
        ).rstrip()
        for row in rows
    ]


def format_report(report: Mapping[str, Any]) -> str:
    """The human-readable table of a :func:`derive`-d report."""
    machine = report.get("machine", {})
    load = report.get("load", {})
    lines = [
        f"course bench  {report.get('started', '')}  {machine.get('cores', '?')} cores, tensorflow "
        f"{machine.get('tensorflow', '?')}, keras {machine.get('keras', '?')}, nbgrader "
        f"{machine.get('nbgrader', '?')}",
        "load average (1/5/15 min): "
        + ", ".join(
            f"{phase} {' '.join(f'{x:.2f}' for x in values)}" for phase, values in load.items()
        ),
    ]
    floor = report.get("floor")
    if floor:
        lines += [
            "",
            f"Floor (fresh kernel + setup imports, median of {floor['repeat']}): "
            f"{floor['seconds']:.2f} s [{', '.join(f'{x:.2f}' for x in floor['runs'])}]; setup "
            f"cell itself {floor['setup_cell_seconds']:.2f} s; kernel peak "
            f"{floor['peak_bytes'] / MiB:.0f} MiB",
        ]
    lessons = report.get("lessons") or []
    if lessons:
        rows = [
            (
                "lesson",
                "wall",
                "x floor",
                "compute",
                "x floor",
                "peak MiB",
                "slowest cell (own compute)",
            )
        ]
        for lesson in lessons:
            cells = [c for c in lesson["cells"] if not c["setup"]]
            slowest = max(cells, key=lambda c: c["seconds"], default=None)
            rows.append(
                (
                    lesson["name"] + (" FAILED" if lesson.get("error") else ""),
                    _s(lesson["wall"]),
                    _x(lesson.get("wall_ratio")),
                    _s(lesson["compute"]),
                    _x(lesson.get("compute_ratio")),
                    f"{lesson['peak_bytes'] / MiB:.0f}",
                    f"{slowest['seconds']:.2f} s cell {slowest['index']}: {slowest['label']}"
                    if slowest
                    else "-",
                )
            )
        lines += ["", *_columns(rows, (False, True, True, True, True, True, False))]
        slow = [(lesson["name"], c) for lesson in lessons for c in lesson["slow_cells"]]
        lines.append(
            f"Cells over {CELL_LIMIT:g} s of own compute: "
            + (
                "; ".join(
                    f"{name} cell {c['index']} {c['seconds']:.2f} s ({c['label']})"
                    for name, c in slow
                )
                or "none"
            )
        )
        for lesson in lessons:
            if lesson.get("error"):
                lines.append(f"{lesson['name']} did not run to the end: {lesson['error']}")
    nbval = report.get("nbval")
    if nbval:
        lines += [
            "",
            f"nbval: {nbval['command']}: {_s(nbval['seconds'])} = {_x(nbval.get('floor_ratio'))} "
            f"floor, {_x(nbval.get('ratio'))} the sum of (floor + compute) = "
            f"{_s(nbval.get('reference_seconds'))}; {nbval['summary']}",
        ]
    klass = report.get("class")
    if klass:
        serial, parallel = klass["serial"], klass.get("parallel", {})
        lines += [
            "",
            f"Class: {klass['learners']} learners x {len(klass['lessons'])} lesson(s) "
            f"({', '.join(klass['lessons'])}) = {klass['notebooks']} notebooks; sum of (floor + "
            f"each notebook's compute) = {_s(klass.get('reference_seconds'))}",
        ]
        if klass.get("time_limit"):
            lines.append(
                f"  time limit per cell: {klass['time_limit']} s (an endless loop in the class "
                "costs that much; --time-limit)"
            )
        for name, left_out in (klass.get("left_out") or {}).items():
            if left_out:
                lines.append(
                    f"  left out of {name}'s class (both graders must grade it): "
                    + "; ".join(f"{case} ({why})" for case, why in left_out.items())
                )
        rows = [("grader", "wall", "per notebook", "x floor", "x (floor + compute)")]
        rows.append(
            (
                "nbgrader autograde (serial)",
                _s(serial["seconds"]),
                _s(serial.get("per_notebook")),
                _x(serial.get("floor_ratio")),
                _x(serial.get("ratio")),
            )
        )
        if parallel.get("available"):
            rows.append(
                (
                    f"course grade --workers {klass['workers']}",
                    _s(parallel["seconds"]),
                    f"{_s(parallel['per_notebook'])} "
                    f"({_s(parallel['worker_seconds_per_notebook'])} x {klass['workers']})",
                    _x(parallel.get("floor_ratio")),
                    _x(parallel.get("ratio")) + " (worker-seconds)",
                )
            )
        else:
            rows.append(("course grade", "not available", "", "", ""))
        lines += ["  " + line for line in _columns(rows, (False, True, True, True, True))]
        if parallel.get("available"):
            verdict = (
                "same grades"
                if parallel["same_grades"]
                else f"{len(parallel['differences'])} DIFFERENT grades"
            )
            lines.append(
                f"  speedup {_x(klass.get('speedup'))}; {verdict} ({parallel['grades_compared']} "
                "test cells compared)"
            )
            lines += [f"    {d}" for d in parallel["differences"][:10]]
            if parallel.get("returncode"):
                lines.append(
                    f"  course grade exited {parallel['returncode']}: {parallel['output_tail']}"
                )
        else:
            lines.append(f"  course grade not available: {parallel.get('reason')}")
        for failure in serial.get("failures", []):
            lines.append(f"  {failure}")
        mismatches = serial.get("expected_mismatches", [])
        if mismatches:
            lines.append(
                "  nbgrader's grades differ from the corpus's expected points in "
                f"{len(mismatches)} places:"
            )
            lines += [f"    {m}" for m in mismatches[:10]]
    if report.get("integrity"):
        lines += format_integrity(report["integrity"])
    rows = [("target", "limit", "measured", "status", "")]
    rows += [
        (t["name"], t["target"], _measured(t), t["status"], t["note"])
        for t in report.get("targets", [])
    ]
    lines += [
        "",
        "Targets",
        *["  " + line for line in _columns(rows, (False, False, True, False, False))],
    ]
    return "\n".join(lines)


def write_json(report: Mapping[str, Any], path: Path) -> Path:
    """Write ``report`` as indented JSON (folders created); returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return path


def _figures(report: Mapping[str, Any]) -> dict[str, float | None]:
    """The figures compared old vs new, from one (derived) report."""
    klass = report.get("class") or {}
    serial = klass.get("serial") or {}
    parallel = klass.get("parallel") or {}
    notebooks = klass.get("notebooks") or None
    return {
        "floor: fresh kernel + setup cell (median)": (report.get("floor") or {}).get("seconds"),
        "lessons: all lessons, one after another": sum(
            lesson["wall"] for lesson in report.get("lessons", [])
        )
        or None,
        "nbval: pytest -n 2 solutions": (report.get("nbval") or {}).get("seconds"),
        "class: serial nbgrader autograde": serial.get("seconds"),
        "class: serial nbgrader, per notebook": serial.get("seconds") / notebooks
        if serial.get("seconds") and notebooks
        else None,
        "class: course grade": parallel.get("seconds"),
        "class: course grade, worker-seconds per notebook": parallel.get(
            "worker_seconds_per_notebook"
        ),
        "suite: make test (--suite)": (report.get("suite") or {}).get("seconds"),
    }


def format_comparison(report: Mapping[str, Any]) -> str:
    """Old (kernels started the usual way) and new (forked) side by side, from one run.

    >>> old = {"floor": {"seconds": 4.0}, "forking": False}
    >>> kernels = {"cold": {"seconds": 0.4, "with_keras_seconds": 3.5},
    ...            "forked": {"seconds": 0.4, "with_keras_seconds": 0.5}}
    >>> new = {"floor": {"seconds": 1.0}, "forking": True, "old": old, "kernels": kernels}
    >>> print(format_comparison(new))
    Old vs new in one run                         usual start  forked  speedup
    kernel start to first idle (median)                 0.4 s   0.4 s    1.00x
    kernel start to `import keras` done (median)        3.5 s   0.5 s    7.00x
    floor: fresh kernel + setup cell (median)           4.0 s   1.0 s    4.00x
    """
    rows = [["Old vs new in one run", "usual start", "forked", "speedup"]]
    kernels = report.get("kernels") or {}
    pairs: list[tuple[str, float | None, float | None]] = []
    if kernels:
        cold, forked = kernels.get("cold") or {}, kernels.get("forked") or {}
        pairs.append(
            ("kernel start to first idle (median)", cold.get("seconds"), forked.get("seconds"))
        )
        pairs.append(
            (
                "kernel start to `import keras` done (median)",
                cold.get("with_keras_seconds"),
                forked.get("with_keras_seconds"),
            )
        )
    new = _figures(report)
    old = _figures(report.get("old") or {}) if report.get("old") else {}
    if not old:
        column = 2 if report.get("forking") else 1
        old = {name: (value if column == 1 else None) for name, value in new.items()}
        new = {name: (value if column == 2 else None) for name, value in new.items()}
    pairs += [(name, old.get(name), new.get(name)) for name in new]
    for name, before, after in pairs:
        if before is None and after is None:
            continue
        speedup = before / after if before and after else None
        rows.append([name, _s(before), _s(after), _x(speedup)])
    table = _columns(rows, [False, True, True, True])
    if kernels.get("boxed"):
        table += ["", *format_box_cost(kernels)]
    return "\n".join(table)


def format_box_cost(kernels: Mapping[str, Any]) -> list[str]:
    """What the box adds to a forked kernel's start (``course bench``'s kernels phase).

    >>> kernels = {"forked": {"seconds": 0.42, "with_keras_seconds": 0.45},
    ...            "boxed": {"seconds": 0.55, "with_keras_seconds": 0.58}}
    >>> print("\\n".join(format_box_cost(kernels)))
    The box, forked kernels                       not boxed  boxed  box adds
    kernel start to first idle (median)              0.42 s  0.55 s    0.13 s
    kernel start to `import keras` done (median)     0.45 s  0.58 s    0.13 s
    """
    forked, boxed = kernels.get("forked") or {}, kernels["boxed"]
    rows = [["The box, forked kernels", "not boxed", "boxed", "box adds"]]
    for name, key in (
        ("kernel start to first idle (median)", "seconds"),
        ("kernel start to `import keras` done (median)", "with_keras_seconds"),
    ):
        plain, box = forked.get(key), boxed.get(key)
        added = box - plain if plain is not None and box is not None else None
        rows.append([name, *(("-" if v is None else f"{v:.2f} s") for v in (plain, box, added))])
    return _columns(rows, [False, True, True, True])
