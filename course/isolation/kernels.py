"""How one grading kernel is isolated: the box where the system allows it, else Landlock.

Both graders describe a grading kernel the same way and get back the command to start and
what to clean up afterwards: ``course grade`` (:mod:`course.grading.kernel`) and plain
``nbgrader autograde`` through the kit's kernel provisioner (:mod:`course.forking.provisioner`).

Example::

    isolated = isolate_kernel(
        ["python", "-m", "ipykernel_launcher", "-f", "/s/kernel.json"],
        KernelRoom(scratch=(Path("/s/box"),), read_only=(Path("/s/kernel.json"),)),
        bind_ports=(5555, 5556),
    )
    isolated.command       # ['python', '-m', 'course.isolation.launch', '--box', ..., '--', ...]
    ...
    isolated.oom_killed()  # the memory cap ended it (a cgroup's count)
    isolated.cleanup()
"""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from course.isolation.box import Box, python_paths
from course.isolation.cgroups import Limits
from course.isolation.landlock import Rules, landlock_abi, package_location
from course.isolation.launch import MODULE, Launch
from course.isolation.linux import namespaces_available

GiB = 2**30
#: Memory of a grading kernel, unless the grader says otherwise (``course grade
#: --memory-limit``); its box may write half as much in all (files in memory count as
#: memory, so the box's writes meet their cap before the memory cgroup's).
DEFAULT_MEMORY = 2 * GiB


def cgroup_memory(memory: int | None) -> int | None:
    """The memory cgroup's cap for a kernel limited to ``memory`` bytes: a quarter more, as
    the watchdog's. An ordinary allocation then always meets the heap limit first (a
    ``MemoryError`` in the cell, which the learner can read), and the cgroup ends only what
    the heap limit does not count (shared memory, in-memory files, the box's files, pages
    copied from the warm parent).

    >>> cgroup_memory(4 * 2**20), cgroup_memory(None)
    (5242880, None)
    """
    return memory * 5 // 4 if memory else None


#: Processes and threads of one box (TensorFlow starts a few dozen threads).
DEFAULT_PROCESSES = 512
#: Packages a grading kernel imports from outside Python's prefixes (editable installs).
KIT_PACKAGES = ("helpers",)


@dataclass(frozen=True)
class KernelRoom:
    """What one kernel may use besides the system: ``scratch`` folders (writable, copied
    into the box), ``read_only`` paths (its connection file, the packages it imports),
    ``memory`` (bytes; None: no cap) and ``processes``; ``fallback`` the Landlock rules
    where there is no box (None: none)."""

    scratch: tuple[Path, ...] = ()
    read_only: tuple[Path, ...] = ()
    memory: int | None = DEFAULT_MEMORY
    processes: int | None = DEFAULT_PROCESSES
    fallback: Rules | None = None
    cgroups: tuple[Path, ...] = ()
    subreaper: bool = False


@dataclass
class IsolatedKernel:
    """The command that starts a kernel isolated, its cgroups (to read and remove) and
    its memory limit (bytes; None: none)."""

    command: list[str]
    boxed: bool
    limits: Limits = field(default_factory=Limits)
    memory: int | None = None

    def oom_killed(self) -> bool:
        """Whether the memory cap (a cgroup's) killed a process of this kernel."""
        return self.limits.oom_killed()

    def cleanup(self) -> None:
        self.limits.remove()


#: Environment variable: ``landlock`` uses the fallback even where a box can be had (to
#: compare the two, or where a kernel must keep what it writes: the test suite's kernels
#: that count their own starts).
MODE_VAR = "KIT_ISOLATION"


def box_available() -> bool:
    """Whether kernels get a box here (user namespaces); else the Landlock fallback."""
    if os.environ.get(MODE_VAR, "").strip().lower() == "landlock":
        return False
    return namespaces_available()


def kit_packages(modules: Sequence[str] = KIT_PACKAGES) -> list[Path]:
    """Where ``modules`` live when that is outside Python's prefixes (an editable install
    of the kit's ``helpers``): the box shows them read-only."""
    prefixes = python_paths()
    found = []
    for module in modules:
        location = package_location(module)
        if location is not None and not any(
            location == p or p in location.parents for p in prefixes
        ):
            found.append(location)
    return found


def isolate_kernel(
    command: Sequence[str],
    room: KernelRoom,
    bind_ports: Sequence[int] = (),
    python: str = sys.executable,
    label: str = "kernel",
) -> IsolatedKernel:
    """The command that starts ``command`` (a kernel) isolated as ``room`` says: in a box
    where namespaces can be had (Landlock then only adds its network rule and scopes:
    the kernel may bind ``bind_ports``, its ZMQ ports, and connect to no TCP port), else
    with ``room.fallback``'s Landlock rules. Cgroups capping memory and processes are made
    where the system allows (:class:`~course.isolation.cgroups.Limits`).

    >>> isolated = isolate_kernel(["python", "-V"], KernelRoom(memory=None, processes=None))
    >>> isolated.command[1:3], isolated.command[-3:]
    (['-m', 'course.isolation.launch'], ['--', 'python', '-V'])
    """
    boxed = box_available()
    limits = Limits.create(label, cgroup_memory(room.memory), room.processes)
    cgroups = (*room.cgroups, *(p for p in (limits.memory, limits.pids) if p))
    if boxed:
        # The kernel's own program (a kernel spec's script) is shown too.
        programs = [Path(a) for a in command[1:] if os.path.isabs(a) and os.path.isfile(a)]
        size = room.memory // 2 if room.memory else None  # its files count as memory too
        box = Box((*room.read_only, *programs), tuple(room.scratch), size)
        rules = Rules(deny_network=True, bind_ports=tuple(bind_ports), filesystem=False)
    else:
        box = None
        rules = room.fallback
        if rules is not None and rules.deny_network:
            rules = dataclasses.replace(rules, bind_ports=tuple(bind_ports))
        if rules is not None and landlock_abi() < 1:
            rules = None
    launch = Launch(
        tuple(command), box, rules, cgroups, room.subreaper, room.memory, room.processes
    )
    return IsolatedKernel(launch.command_line(python), boxed, limits, room.memory)


def is_isolated(command: Sequence[str]) -> bool:
    """Whether ``command`` already starts through the launcher.

    >>> is_isolated(["python", "-m", MODULE, "--", "x"]), is_isolated(["python", "-V"])
    (True, False)
    """
    return len(command) > 2 and command[1] == "-m" and command[2] == MODULE


def killed_from_outside(exit_code: int | None) -> bool:
    """Whether a kernel that died with ``exit_code`` was ended by something outside its
    notebook: SIGKILL, which its own code cannot send it in a box (the first process of a
    PID namespace ignores it from inside), but its warm parent's death, the system's
    out-of-memory killer or an administrator can. (The grader's own kills, its watchdog, a
    timeout, and the memory cgroup's are known to the grader and judged before this.)

    >>> killed_from_outside(-9), killed_from_outside(1), killed_from_outside(None)
    (True, False, False)
    """
    return exit_code == -signal.SIGKILL


def describe(memory: int | None) -> str:
    """One line for the start of a grading run: how its kernels are isolated, plainly."""
    if box_available():
        from course.isolation.cgroups import controller_folder

        capped = [c for c in ("memory", "pids") if controller_folder(c) is not None]
        cap = (
            f"cgroups cap {' and '.join(capped)}"
            if capped
            else "no cgroup can be made here (not root): memory is capped by resource limits"
        )
        return (
            "kernels run boxed (own user, mount, PID and IPC namespaces): each sees only the "
            "system, Python and its own scratch folder, a private /tmp and /proc, no home "
            f"folder, no host socket; {cap}"
        )
    abi = landlock_abi()
    why = (
        f"{MODE_VAR}=landlock asks for the fallback"
        if namespaces_available()
        else "this system does not allow user namespaces"
    )
    if abi >= 1:
        return (
            f"NO BOX: {why}, so kernels fall back to Landlock rules (ABI {abi}), which hide "
            "the course, the grader's folders and other kernels' scratch folders, but not "
            "the rest of the machine"
        )
    return (
        "NO BOX and no Landlock on this system: kernels run with the grader's rights; "
        "grade on a Linux that allows user namespaces"
    )
