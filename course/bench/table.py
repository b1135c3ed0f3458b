"""The text ``course bench`` prints: a report's table (one section per phase that ran) and
the comparison of two reports.

Example::

    print(format_report(derive(measurements)))
    print(format_comparison({"old": old_report, **new_report}))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from course.bench.integrity import format_integrity
from course.bench.report import CELL_LIMIT
from course.grading.settings import MiB


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
    """The human-readable table of a :func:`derive`-d report: one section per phase that ran."""
    lines = _format_header(report)
    if report.get("floor"):
        lines += _format_floor(report["floor"])
    if report.get("lessons"):
        lines += _format_lessons(report["lessons"])
    if report.get("nbval"):
        lines += _format_nbval(report["nbval"])
    if report.get("class"):
        lines += _format_class(report["class"])
    if report.get("integrity"):
        lines += format_integrity(report["integrity"])
    lines += _format_targets(report.get("targets", []))
    return "\n".join(lines)


def _format_header(report: Mapping[str, Any]) -> list[str]:
    machine = report.get("machine", {})
    load = report.get("load", {})
    return [
        f"course bench  {report.get('started', '')}  {machine.get('cores', '?')} cores, tensorflow "
        f"{machine.get('tensorflow', '?')}, keras {machine.get('keras', '?')}, nbgrader "
        f"{machine.get('nbgrader', '?')}",
        "load average (1/5/15 min): "
        + ", ".join(
            f"{phase} {' '.join(f'{x:.2f}' for x in values)}" for phase, values in load.items()
        ),
    ]


def _format_floor(floor: Mapping[str, Any]) -> list[str]:
    return [
        "",
        f"Floor (fresh kernel + setup imports, median of {floor['repeat']}): "
        f"{floor['seconds']:.2f} s [{', '.join(f'{x:.2f}' for x in floor['runs'])}]; setup "
        f"cell itself {floor['setup_cell_seconds']:.2f} s; kernel peak "
        f"{floor['peak_bytes'] / MiB:.0f} MiB",
    ]


def _lesson_row(lesson: Mapping[str, Any]) -> tuple[str, ...]:
    cells = [c for c in lesson["cells"] if not c["setup"]]
    slowest = max(cells, key=lambda c: c["seconds"], default=None)
    return (
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


def _format_lessons(lessons: Sequence[Mapping[str, Any]]) -> list[str]:
    header = ("lesson", "wall", "x floor", "compute", "x floor", "peak MiB")
    rows = [(*header, "slowest cell (own compute)"), *map(_lesson_row, lessons)]
    lines = ["", *_columns(rows, (False, True, True, True, True, True, False))]
    slow = [(lesson["name"], c) for lesson in lessons for c in lesson["slow_cells"]]
    listed = "; ".join(
        f"{name} cell {c['index']} {c['seconds']:.2f} s ({c['label']})" for name, c in slow
    )
    lines.append(f"Cells over {CELL_LIMIT:g} s of own compute: " + (listed or "none"))
    lines += [
        f"{lesson['name']} did not run to the end: {lesson['error']}"
        for lesson in lessons
        if lesson.get("error")
    ]
    return lines


def _format_nbval(nbval: Mapping[str, Any]) -> list[str]:
    return [
        "",
        f"nbval: {nbval['command']}: {_s(nbval['seconds'])} = {_x(nbval.get('floor_ratio'))} "
        f"floor, {_x(nbval.get('ratio'))} the sum of (floor + compute) = "
        f"{_s(nbval.get('reference_seconds'))}; {nbval['summary']}",
    ]


def _format_class(klass: Mapping[str, Any]) -> list[str]:
    lines = [
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
    lines += _format_graders(klass)
    lines += _format_parallel_outcome(klass)
    return lines + _format_serial_outcome(klass["serial"])


def _format_graders(klass: Mapping[str, Any]) -> list[str]:
    serial, parallel = klass["serial"], klass.get("parallel", {})
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
    return ["  " + line for line in _columns(rows, (False, True, True, True, True))]


def _format_parallel_outcome(klass: Mapping[str, Any]) -> list[str]:
    parallel = klass.get("parallel", {})
    if not parallel.get("available"):
        return [f"  course grade not available: {parallel.get('reason')}"]
    verdict = (
        "same grades"
        if parallel["same_grades"]
        else f"{len(parallel['differences'])} DIFFERENT grades"
    )
    lines = [
        f"  speedup {_x(klass.get('speedup'))}; {verdict} ({parallel['grades_compared']} "
        "test cells compared)",
        *[f"    {d}" for d in parallel["differences"][:10]],
    ]
    if parallel.get("returncode"):
        lines.append(f"  course grade exited {parallel['returncode']}: {parallel['output_tail']}")
    return lines


def _format_serial_outcome(serial: Mapping[str, Any]) -> list[str]:
    lines = [f"  {failure}" for failure in serial.get("failures", [])]
    mismatches = serial.get("expected_mismatches", [])
    if mismatches:
        lines.append(
            "  nbgrader's grades differ from the corpus's expected points in "
            f"{len(mismatches)} places:"
        )
        lines += [f"    {m}" for m in mismatches[:10]]
    return lines


def _format_targets(targets: Sequence[Mapping[str, Any]]) -> list[str]:
    rows = [("target", "limit", "measured", "status", "")]
    rows += [(t["name"], t["target"], _measured(t), t["status"], t["note"]) for t in targets]
    return [
        "",
        "Targets",
        *["  " + line for line in _columns(rows, (False, False, True, False, False))],
    ]


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
