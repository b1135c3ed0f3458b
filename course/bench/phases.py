"""The phases of ``course bench`` that time one thing: the floor (a fresh kernel that runs only
the setup cell), each lesson, the nbval suite and kernel start, usual and forked.

Example::

    >>> cores() >= 1
    True
"""

from __future__ import annotations

import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import nbformat

from course.bench.notebook_timing import (
    run_notebook,
)
from course.bench.report import (
    CELL_LIMIT,
    MiB,
)
from course.build import IGNORED
from course.config import (
    environment,
    tool_environment,
)
from course.lessons import Lesson

#: `make test` runs pytest with two workers (PYTEST_WORKERS).
NBVAL_COMMAND = ("-m", "pytest", "-n", "2", "solutions", "-q", "-p", "no:cacheprovider")
#: The README's test command, which CI runs (``.ci/run``).
SUITE_COMMAND = ("make", "--no-print-directory", "test")


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


def progress(message: str) -> None:
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
        progress(
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
    progress(
        f"{lesson.name}: wall {run['wall']:.1f} s, compute {run['compute']:.1f} s, peak "
        f"{run['peak_bytes'] / MiB:.0f} MiB" + (f", FAILED: {run['error']}" if run["error"] else "")
    )
    return {"name": lesson.name, **run, "slow_cells": slow}


def timed_run(command: Sequence[str], cwd: Path) -> tuple[float, subprocess.CompletedProcess]:
    """Run ``command`` in ``cwd`` with the tools' environment, output captured; its wall
    time in seconds and the finished process."""
    started = time.perf_counter()
    done = subprocess.run(
        list(command), cwd=cwd, env=tool_environment(), capture_output=True, text=True
    )
    return time.perf_counter() - started, done


def measure_nbval(root: Path) -> dict[str, Any]:
    """``pytest -n 2 solutions`` in ``root`` (its conftest.py and sanitize file apply)."""
    seconds, done = timed_run([sys.executable, *NBVAL_COMMAND], root)
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    summary = lines[-1].strip("= ") if lines else done.stderr.strip()[-300:]
    progress(f"nbval: {seconds:.1f} s, exit {done.returncode}: {summary}")
    return {
        "command": "python " + " ".join(NBVAL_COMMAND),
        "seconds": round(seconds, 3),
        "returncode": done.returncode,
        "summary": summary,
    }


def pytest_summaries(output: str) -> list[str]:
    """pytest's closing lines (``N passed, ... in S s``) in ``output``, in order.

    >>> output = "...\\n===== 3 passed, 1 skipped in 2.10s =====\\n...\\n= 5 passed in 1.0s ="
    >>> pytest_summaries(output)
    ['3 passed, 1 skipped in 2.10s', '5 passed in 1.0s']
    """
    summaries = []
    for line in output.splitlines():
        line = line.strip()
        text = line.strip("= ")
        framed = line.startswith("=") and line.endswith("=")
        if framed and " in " in text and any(w in text for w in ("passed", "failed", "error")):
            summaries.append(text)
    return summaries


def measure_suite(root: Path, command: tuple[str, ...] = SUITE_COMMAND) -> dict[str, Any]:
    """The whole test suite as CI runs it (``make test`` in ``root``): wall time, exit code
    and pytest's summary line of each of its runs (the main one, then JAX's)."""
    seconds, done = timed_run(command, root)
    summaries = pytest_summaries(done.stdout)
    progress(f"suite: {seconds:.1f} s, exit {done.returncode}: {'; '.join(summaries)}")
    return {
        "command": " ".join(command),
        "seconds": round(seconds, 3),
        "returncode": done.returncode,
        "summaries": summaries,
        "output_tail": "" if done.returncode == 0 else (done.stdout + done.stderr)[-3000:],
    }


def measure_kernel_start(repeat: int, work: Path) -> dict[str, Any]:
    """Kernel start to first idle (the ``kernel_info`` reply), ``repeat`` times each way:
    started the usual way (``KIT_FORK_KERNELS=0``: a new interpreter imports everything),
    forked from the warm parent (its first start, which starts the parent, excluded), and
    forked into a box, as a grading kernel of ``nbgrader autograde`` is
    (``NBGRADER_EXECUTION=autograde``: :mod:`course.isolation`)."""
    result: dict[str, Any] = {"repeat": repeat}
    ways = (("cold", "0", False), ("forked", "1", False), ("boxed", "1", True))
    for mode, enabled, grading in ways:
        runs = []
        with forking(enabled), _grading_kernels(grading):
            for attempt in range(repeat + (enabled == "1")):
                run = _start_kernel(work)
                if enabled == "1" and attempt == 0:
                    continue  # the warm parent's own start (or a first boxed start)
                runs.append(run)
        result[mode] = {
            "seconds": round(statistics.median(r["idle"] for r in runs), 3),
            "with_keras_seconds": round(statistics.median(r["keras"] for r in runs), 3),
            "runs": [round(r["idle"], 3) for r in runs],
            "forked": sum(r["forked"] for r in runs),
            "boxed": sum(r["boxed"] for r in runs),
        }
        progress(
            f"kernel start ({mode}): {result[mode]['seconds']:.2f} s to idle, "
            f"{result[mode]['with_keras_seconds']:.2f} s with keras imported "
            f"({result[mode]['forked']}/{len(runs)} forked, {result[mode]['boxed']} boxed)"
        )
    return result


def _start_kernel(work: Path) -> dict[str, Any]:
    """Start a ``python3`` kernel in ``work``, import Keras in it, shut it down: the times."""
    from jupyter_client.manager import start_new_kernel

    started = time.perf_counter()
    km, kc = start_new_kernel(kernel_name="python3", startup_timeout=300, cwd=str(work))
    seconds = time.perf_counter() - started
    isolated = getattr(km.provisioner, "isolated", None)
    forked = getattr(km.provisioner, "forked", None) is not None
    kc.execute_interactive("import keras", timeout=300)  # what a lesson's cell 1 needs
    ready = time.perf_counter() - started
    kc.stop_channels()
    km.shutdown_kernel(now=True)
    boxed = bool(isolated is not None and isolated.boxed)
    return {"idle": seconds, "keras": ready, "forked": forked, "boxed": boxed}


def forking(enabled: str) -> contextlib.AbstractContextManager[None]:
    """Set ``KIT_FORK_KERNELS`` for this process and the graders it starts."""
    return environment("KIT_FORK_KERNELS", enabled)


def _grading_kernels(enabled: bool) -> contextlib.AbstractContextManager[None]:
    """Start kernels as ``nbgrader autograde`` does (boxed by the kit's provisioner)."""
    return environment("NBGRADER_EXECUTION", "autograde" if enabled else None)
