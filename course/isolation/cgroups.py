"""A memory and process cap per kernel from the system's cgroups, where they can be had.

``memory.max`` (cgroup v2) or ``memory.limit_in_bytes`` (v1) counts every page a kernel's
processes use: heap, shared memory (``/dev/shm``, SysV), ``memfd_create`` files and the
box's own tmpfs; past it the kernel's own out-of-memory killer ends the kernel, and
:meth:`Limits.oom_killed` says so afterwards. ``pids.max`` caps its processes (a fork
bomb gets ``BlockingIOError``). Creating cgroups needs root or a delegated cgroup: as a
plain user on most machines there is none, and the box falls back to resource limits
(``RLIMIT_NPROC`` counts per user namespace, so it caps the box's processes; memory is
then capped by ``RLIMIT_DATA``, the tmpfs size and ``course grade``'s watchdog).

This machine family mounts cgroups v1 and v2 side by side ("hybrid"); each controller is
looked up where it is mounted and enabled.

Example::

    limits = Limits.create("alice-01", memory=2 * 2**30, processes=256)
    limits.arguments()          # ['--cgroup-memory', '/sys/fs/cgroup/memory/...', ...]
    ...                         # the kernel joins them (course.isolation.box)
    limits.oom_killed()         # True when the memory cap ended it
    limits.remove()
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

_PARENT = "course-kernels"


def _mounts() -> list[tuple[str, str, set[str]]]:
    """(mount point, type, options) of every cgroup file system."""
    found = []
    try:
        lines = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        fields = line.split()
        if len(fields) >= 4 and fields[2] in ("cgroup", "cgroup2"):
            found.append((fields[1], fields[2], set(fields[3].split(","))))
    return found


def _own_paths() -> dict[str, str]:
    """controller (or ``""`` for v2) -> this process's cgroup path."""
    paths = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for name in controllers.split(",") if controllers else [""]:
                paths[name] = path
    return paths


def controller_folder(controller: str) -> Path | None:
    """A writable folder below which this process may create cgroups with ``controller``
    (``memory`` or ``pids``), or None."""
    own = _own_paths()
    for point, kind, options in _mounts():
        if "rw" not in options:
            continue
        if kind == "cgroup" and controller in options and controller in own:
            folder = Path(point) / own[controller].lstrip("/")
        elif kind == "cgroup2" and "" in own:
            folder = Path(point) / own[""].lstrip("/")
            try:
                enabled = (folder / "cgroup.subtree_control").read_text().split()
                available = (folder / "cgroup.controllers").read_text().split()
            except OSError:
                continue
            if controller not in available:
                continue
            if controller not in enabled:
                # Enabling a controller for children needs this cgroup to hold no process
                # itself (v2's rule): use a child folder of our own for the kernels.
                continue
        else:
            continue
        parent = folder / _PARENT
        with contextlib.suppress(OSError):
            parent.mkdir(exist_ok=True)
            if os.access(parent, os.W_OK) and (parent / "cgroup.procs").exists():
                return parent
    return None


@dataclass
class Limits:
    """One kernel's cgroups: ``memory`` and ``pids`` folders (None where unavailable)."""

    memory: Path | None = None
    pids: Path | None = None

    @classmethod
    def create(cls, label: str, memory: int | None, processes: int | None) -> Limits:
        """New cgroups capping ``memory`` bytes and ``processes`` processes (each None: no
        cap); where a controller cannot be had, that field stays None."""
        name = f"{label}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        limits = cls()
        if memory:
            limits.memory = _make(
                "memory", name, {"memory.max": memory, "memory.limit_in_bytes": memory}
            )
            if limits.memory is not None:
                with contextlib.suppress(OSError):  # v1: no swap beyond the cap either
                    (limits.memory / "memory.memsw.limit_in_bytes").write_text(str(memory))
                with contextlib.suppress(OSError):
                    (limits.memory / "memory.swap.max").write_text("0")
        if processes:
            limits.pids = _make("pids", name, {"pids.max": processes})
        return limits

    def arguments(self) -> list[str]:
        """Options of the box (``course.isolation.box``) that make the kernel join them.

        >>> Limits(Path("/m"), None).arguments()
        ['--cgroup', '/m']
        """
        return [arg for path in (self.memory, self.pids) if path for arg in ("--cgroup", str(path))]

    def oom_killed(self) -> bool:
        """Whether the memory cap has killed a process of this kernel."""
        if self.memory is None:
            return False
        for name in ("memory.events", "memory.oom_control"):
            with contextlib.suppress(OSError, ValueError):
                for line in (self.memory / name).read_text().splitlines():
                    key, _, value = line.partition(" ")
                    if key == "oom_kill" and int(value) > 0:
                        return True
        return False

    def remove(self, wait: float = 2.0) -> None:
        """Remove the cgroups (once their processes are gone; waits up to ``wait`` s)."""
        for folder in (self.memory, self.pids):
            if folder is None:
                continue
            deadline = time.monotonic() + wait
            while True:
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.02)


def _make(controller: str, name: str, values: dict[str, int]) -> Path | None:
    parent = controller_folder(controller)
    if parent is None:
        return None
    folder = parent / name
    try:
        folder.mkdir()
    except OSError:
        return None
    written = False
    for file, value in values.items():
        with contextlib.suppress(OSError):
            (folder / file).write_text(str(value))
            written = True
    if not written:
        with contextlib.suppress(OSError):
            folder.rmdir()
        return None
    return folder


def join(folder: Path) -> None:
    """Move this process into the cgroup ``folder`` (its children follow)."""
    (Path(folder) / "cgroup.procs").write_text(str(os.getpid()))


def remove_stale() -> int:
    """Remove kernel cgroups whose grader no longer runs; returns how many."""
    import psutil

    removed = 0
    for controller in ("memory", "pids"):
        parent = controller_folder(controller)
        if parent is None:
            continue
        for folder in parent.iterdir():
            parts = folder.name.rsplit("-", 2)
            if folder.is_dir() and len(parts) == 3 and parts[1].isdigit():
                if not psutil.pid_exists(int(parts[1])):
                    with contextlib.suppress(OSError):
                        folder.rmdir()
                        removed += 1
    return removed
