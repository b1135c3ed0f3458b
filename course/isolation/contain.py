"""Every process a grading kernel starts dies with it: a cgroup, or its process family.

A learner's notebook can start processes (``subprocess.Popen``, ``os.fork``, a daemon that
calls ``setsid`` to leave the kernel's session). Killing the kernel alone leaves them
running, reading other kernels' files and using the machine while other learners are
graded. :class:`Containment` puts a kernel and all its descendants in one group and
kills the whole group:

* **cgroup v2** (Linux, the grader is root or owns a delegated cgroup, and the cgroup2
  file system is mounted writable): each kernel gets a cgroup of its own below the
  grader's; ``python -m course.isolation.launch --cgroup PATH`` moves itself into it before it
  becomes the kernel, so every process the notebook starts is in it, whatever it does
  (``setsid``, double forks). :meth:`Containment.kill` writes ``cgroup.kill`` (Linux 5.14)
  and removes the cgroup. Inside the sandbox a kernel cannot write ``/sys/fs/cgroup``, so
  it cannot leave.
* **fallback** (no writable cgroup2): the kernel is its own process group (jupyter_client
  starts it in a new session) and a *child subreaper* (``PR_SET_CHILD_SUBREAPER``, set by
  ``course.isolation.launch`` before it execs the kernel), so an orphaned descendant, one that
  called ``setsid`` included, becomes the kernel's child instead of ``init``'s and stays
  in its process tree. :meth:`Containment.kill` kills the process group, the tree, and
  every process whose environment carries the kernel's marker (``COURSE_GRADE_KERNEL``),
  which finds descendants the kernel's death already orphaned. A process that clears its
  environment *and* whose parent died first can escape this fallback; the cgroup is exact.

Example::

    contain = Containment.create("alice-01")     # a cgroup when possible
    command = ["python", "-m", "course.isolation.launch", *contain.arguments(), "--", ...]
    ...                                          # start the kernel, remember its pid
    contain.kill(kernel_pid)                     # the kernel and everything it started
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psutil

#: Environment variable set in every grading kernel: its containment's name.
MARKER = "COURSE_GRADE_KERNEL"
_CGROUP_PARENT = "course-grade"


def _own_cgroup() -> Path | None:
    """This process's cgroup v2 folder, if the cgroup2 file system is mounted and the
    folder can be written (root, or a delegated cgroup); None otherwise."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
        mounts = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return None
    relative = next((line[3:] for line in lines if line.startswith("0::")), None)
    if relative is None:
        return None
    for mount in mounts:
        fields = mount.split()
        if len(fields) >= 4 and fields[2] == "cgroup2" and "rw" in fields[3].split(","):
            folder = Path(fields[1]) / relative.lstrip("/")
            if (folder / "cgroup.procs").exists() and os.access(folder, os.W_OK):
                return folder
    return None


def cgroup_parent() -> Path | None:
    """The folder below which grading kernels get their cgroups (created on demand), or
    None when cgroups v2 cannot be used here (not Linux, not writable, no ``cgroup.kill``)."""
    own = _own_cgroup()
    if own is None:
        return None
    parent = own / _CGROUP_PARENT
    try:
        parent.mkdir(exist_ok=True)
    except OSError:
        return None
    return parent if (parent / "cgroup.kill").exists() else None


@dataclass
class Containment:
    """One kernel's group of processes: a cgroup folder (``cgroup``) or, without one, the
    marker its processes carry in their environment (``name``)."""

    name: str
    cgroup: Path | None = None

    @classmethod
    def create(cls, label: str = "kernel", use_cgroup: bool = True) -> Containment:
        """A new containment; a cgroup of its own when the system allows it.

        >>> Containment.create("demo", use_cgroup=False).cgroup is None
        True
        """
        name = f"{label}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        parent = cgroup_parent() if use_cgroup else None
        cgroup = None
        if parent is not None:
            with contextlib.suppress(OSError):
                (parent / name).mkdir()
                cgroup = parent / name
        return cls(name, cgroup)

    @property
    def kind(self) -> str:
        """``"cgroup"`` or ``"process group"`` (for messages)."""
        return "cgroup" if self.cgroup else "process group"

    def arguments(self) -> list[str]:
        """Options of ``python -m course.isolation.launch`` that put the kernel in this containment.

        >>> Containment("k").arguments()
        ['--subreaper']
        """
        if self.cgroup is not None:
            return ["--cgroup", str(self.cgroup), "--subreaper"]
        return ["--subreaper"]

    def environment(self) -> dict[str, str]:
        """The marker to add to the kernel's environment."""
        return {MARKER: self.name}

    def pids(self, root: int | None = None) -> set[int]:
        """Every live process of this containment (``root``: the kernel's pid)."""
        found: set[int] = set()
        if self.cgroup is not None:
            with contextlib.suppress(OSError):
                found.update(int(p) for p in (self.cgroup / "cgroup.procs").read_text().split())
            return found
        if root is not None:
            with contextlib.suppress(psutil.Error):
                kernel = psutil.Process(root)
                found.add(root)
                found.update(p.pid for p in kernel.children(recursive=True))
                with contextlib.suppress(OSError, ProcessLookupError):
                    pgid = os.getpgid(root)
                    if pgid != os.getpgid(0):
                        found.update(p.pid for p in psutil.process_iter() if _pgid(p.pid) == pgid)
        found.update(self._marked())
        found.discard(os.getpid())
        return found

    def _marked(self) -> set[int]:
        needle = f"{MARKER}={self.name}".encode()
        marked = set()
        uid = os.getuid()
        for process in psutil.process_iter(["uids"]):
            with contextlib.suppress(psutil.Error, OSError):
                if (
                    process.info["uids"] is None
                    or process.info["uids"].real != uid
                    or process.pid == os.getpid()
                ):
                    continue
                environ = Path(f"/proc/{process.pid}/environ").read_bytes()
                if needle in environ.split(b"\0"):
                    marked.add(process.pid)
        return marked

    def kill(self, root: int | None = None, wait: float = 5.0) -> None:
        """SIGKILL every process of this containment and remove its cgroup. Idempotent."""
        if self.cgroup is not None:
            with contextlib.suppress(OSError):
                (self.cgroup / "cgroup.kill").write_text("1")
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                try:
                    if "populated 0" in (self.cgroup / "cgroup.events").read_text():
                        break
                except OSError:
                    break
                time.sleep(0.01)
            with contextlib.suppress(OSError):
                self.cgroup.rmdir()
            return
        # Stop first (so nothing forks while we look), then kill; repeat until none is left.
        for _ in range(5):
            pids = self.pids(root)
            if not pids:
                return
            for sig in (signal.SIGSTOP, signal.SIGKILL):
                for pid in pids:
                    with contextlib.suppress(OSError):
                        os.kill(pid, sig)
            time.sleep(0.01)


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def remove_stale_cgroups() -> int:
    """Remove kernel cgroups left by graders that no longer run (killing what is in them);
    returns how many were removed."""
    parent = cgroup_parent()
    if parent is None:
        return 0
    removed = 0
    for folder in parent.iterdir():
        if not folder.is_dir():
            continue
        pid = folder.name.rsplit("-", 2)[-2] if folder.name.count("-") >= 2 else ""
        if pid.isdigit() and not psutil.pid_exists(int(pid)):
            Containment(folder.name, folder).kill(wait=1.0)
            removed += not folder.exists()
    return removed
