"""The ``integrity`` phase of ``course bench``: what the run-time integrity guard costs.

In a child Python that has imported what a warm grading kernel imports (Keras, the helpers,
IPython, matplotlib), it installs :mod:`course.grading.steps.guard_kernel` (the fingerprints and
the audit hook) and asks it to check several times, as the grader does before each test
cell. It reports CPU seconds (the machine's load changes wall time, not these) and the cost
per notebook: one install plus one check per autograded test cell of the lesson with most.

Example::

    >>> figures = per_notebook({"install": 0.2, "check": 0.05}, tests=4)
    >>> round(figures, 2)
    0.4
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import nbformat

from course.cells import is_test
from course.grading.steps.runtime_guard import run_sources
from course.lessons import find_lessons

_CHILD = """
import json, os, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras, helpers, helpers.grading, IPython, matplotlib.pyplot  # a warm kernel's modules
ns = {{}}
{run_sources}
started = time.process_time()
ns["install"]()
install = time.process_time() - started
checks = []
for n in range({repeat}):
    started = time.process_time()
    sys.audit("course.integrity.check", str(n), [])
    checks.append(time.process_time() - started)
print(json.dumps({{"install": install, "checks": checks, "modules": len(sys.modules)}}))
"""


def per_notebook(costs: dict[str, float], tests: int) -> float:
    """CPU seconds of the guard for one notebook with ``tests`` autograded test cells."""
    return costs["install"] + tests * costs["check"]


def most_tests(root: Path) -> int:
    """The most autograded test cells of one lesson notebook of the course."""
    counts = [0]
    for lesson in find_lessons(root):
        try:
            nb = nbformat.read(lesson.source_notebook, as_version=4)
        except (OSError, ValueError):
            continue
        counts.append(sum(1 for cell in nb.cells if is_test(cell)))
    return max(counts)


def measure_integrity(root: Path, repeat: int = 5) -> dict[str, Any]:
    """The guard's CPU cost: install, a check (median), and per notebook."""
    code = _CHILD.format(run_sources=run_sources("ns"), repeat=repeat)
    with tempfile.TemporaryDirectory() as folder:
        done = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            cwd=folder,
            timeout=600,
            check=False,
        )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        return {"error": (done.stderr or done.stdout)[-500:]}
    data = json.loads(lines[-1])
    checks = sorted(data["checks"])
    costs = {"install": data["install"], "check": checks[len(checks) // 2]}
    tests = most_tests(root)
    return {
        "install_seconds": round(costs["install"], 4),
        "check_seconds": round(costs["check"], 4),
        "modules": data["modules"],
        "tests_per_notebook": tests,
        "per_notebook_seconds": round(per_notebook(costs, tests), 4),
    }


def format_integrity(figures: dict[str, Any]) -> list[str]:
    """The report's lines for this phase.

    >>> format_integrity({"install_seconds": 0.2, "check_seconds": 0.05, "modules": 4500,
    ...                   "tests_per_notebook": 4, "per_notebook_seconds": 0.4})[1][-50:]
    'check 0.050 s; 0.40 s per notebook of 4 test cells'
    """
    if figures.get("error"):
        return ["", f"Run-time integrity guard: FAILED {figures['error']}"]
    return [
        "",
        f"Run-time integrity guard (CPU, {figures['modules']} modules): install "
        f"{figures['install_seconds']:.2f} s, check {figures['check_seconds']:.3f} s; "
        f"{figures['per_notebook_seconds']:.2f} s per notebook of {figures['tests_per_notebook']} "
        "test cells",
    ]
