"""Execute a notebook and measure it: wall time, the kernel's own time per cell, and the
kernel's peak memory (used by ``course bench``).

Example::

    nb = nbformat.read("solutions/01_shared_layers/01_shared_layers.ipynb", as_version=4)
    run = run_notebook(nb, cwd=Path("solutions/01_shared_layers"))
    print(run["wall"], run["compute"], run["peak_bytes"] / 2**20)
    slowest = max(run["cells"], key=lambda cell: cell["seconds"])
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import psutil
from nbclient import NotebookClient
from nbformat import NotebookNode

from course.cells import grade_id_of
from course.config import FALLBACK_CELL_TIMEOUT, tool_environment


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
        if (
            c.cell_type != "code"
            or "iopub.execute_input" not in timing
            or "shell.execute_reply" not in timing
        ):
            continue
        seconds = (
            _timestamp(timing["shell.execute_reply"]) - _timestamp(timing["iopub.execute_input"])
        ).total_seconds()
        gid = grade_id_of(c)
        label = f"[{gid}] " + cell_label(c.source, 32) if gid else cell_label(c.source)
        times.append(
            {"index": index, "seconds": round(seconds, 3), "label": label, "setup": index == setup}
        )
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


def run_notebook(
    nb: NotebookNode, cwd: Path, timeout: int = FALLBACK_CELL_TIMEOUT
) -> dict[str, Any]:
    """Execute ``nb`` (in place) in a fresh ``python3`` kernel started in ``cwd``.

    Returns ``wall`` (seconds spent in nbclient's ``execute``: kernel start, every cell,
    shutdown), ``cells`` (:func:`cell_times`), ``compute`` (:func:`own_compute`),
    ``setup`` (the setup cell's time), ``peak_bytes`` (kernel and children) and ``error``
    (None, or what stopped the run).
    """
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(cwd)}},
        record_timing=True,
        store_widget_state=False,
    )
    samplers: list[PeakMemory] = []

    def on_start(notebook: NotebookNode) -> None:
        provisioner = getattr(client.km, "provisioner", None)
        pid = getattr(provisioner, "pid", None) or getattr(
            getattr(provisioner, "process", None), "pid", None
        )
        if pid:
            samplers.append(PeakMemory(pid).__enter__())

    client.on_notebook_start = on_start
    error = None
    started = time.perf_counter()
    try:
        # The kernel's stderr (ipykernel's notices) would only clutter the progress lines;
        # a kernel that dies is reported by nbclient.
        client.execute(env=tool_environment(), stderr=subprocess.DEVNULL)
    except Exception as exc:  # noqa: BLE001 - reported in the table, the benchmark goes on
        error = (
            f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"
        )
    wall = time.perf_counter() - started
    peak = max((s.stop() for s in samplers), default=0)
    times = cell_times(nb)
    setup = next((t["seconds"] for t in times if t["setup"]), None)
    return {
        "wall": round(wall, 3),
        "compute": own_compute(times),
        "setup": setup,
        "cells": times,
        "peak_bytes": peak,
        "error": error,
    }
