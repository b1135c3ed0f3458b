"""Start a grading kernel isolated: ``python -m course.isolation.launch OPTIONS -- COMMAND``.

Both graders start their kernels this way (``course grade``'s kernel manager and, for plain
``nbgrader autograde``, the kit's kernel provisioner); a child forked from the warm parent
(:mod:`course.forking`) recognises the same command line and applies it in-process with
:func:`apply` before it becomes the kernel. In order:

1. ``--cgroup PATH`` (repeatable): join these cgroups (memory, pids, or the v2 cgroup whose
   ``cgroup.kill`` ends the fallback's processes: :mod:`course.isolation.cgroups`,
   :mod:`course.isolation.contain`);
2. ``--subreaper``: orphaned descendants stay this process's children (the fallback);
3. ``--box`` with ``--read-only PATH``, ``--scratch PATH`` and ``--size BYTES``: the box
   (:mod:`course.isolation.box`); without it, nothing (the fallback);
4. ``--memory BYTES`` and ``--processes N``: resource limits
   (:func:`course.isolation.box.limit_resources`);
5. Landlock (:mod:`course.isolation.landlock`): the file rules of the fallback
   (``--hide``, ``--visible``, ``--writable``) or, with ``--no-file-rules``, only the network
   (``--deny-network``, ``--allow-bind PORT``) and scopes; ``--no-landlock``: none;

then it ``exec``s COMMAND (in the box: as the box's first process).

Example::

    >>> launch = parse_launch(["--box", "--scratch", "/s", "--memory", "1024", "--no-landlock",
    ...                        "--", "python", "-V"])
    >>> launch.command, launch.box.scratch, launch.memory, launch.rules
    (('python', '-V'), (PosixPath('/s'),), 1024, None)
"""

from __future__ import annotations

import argparse
import ctypes
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from course.isolation import box as boxes
from course.isolation import cgroups, linux
from course.isolation.landlock import Rules, landlock_abi, restrict

#: The module name a kernel command starts with when it is isolated (``-m`` this module).
MODULE = "course.isolation.launch"


@dataclass(frozen=True)
class Launch:
    """What the launcher was asked to do; see the module docstring."""

    command: tuple[str, ...]
    box: boxes.Box | None = None
    rules: Rules | None = None
    cgroups: tuple[Path, ...] = ()
    subreaper: bool = False
    memory: int | None = None
    processes: int | None = None

    def arguments(self) -> list[str]:
        """The launcher's options for this launch (without ``--`` and the command).

        >>> Launch((), memory=5, rules=None).arguments()
        ['--memory', '5', '--no-landlock']
        """
        args: list[str] = []
        for folder in self.cgroups:
            args += ["--cgroup", str(folder)]
        if self.subreaper:
            args.append("--subreaper")
        if self.box is not None:
            args += self.box.arguments()
        if self.memory:
            args += ["--memory", str(self.memory)]
        if self.processes:
            args += ["--processes", str(self.processes)]
        args += self.rules.arguments() if self.rules is not None else ["--no-landlock"]
        return args

    def command_line(self, python: str = sys.executable) -> list[str]:
        """``python -m course.isolation.launch OPTIONS -- COMMAND``."""
        return [python, "-m", MODULE, *self.arguments(), "--", *self.command]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__)
    add = parser.add_argument
    add("--cgroup", action="append", type=Path, default=[], help="a cgroup to join first")
    add("--subreaper", action="store_true", help="become a child subreaper")
    add("--box", action="store_true", help="run COMMAND in a box of its own")
    add("--read-only", action="append", type=Path, default=[], help="a path the box shows")
    add("--scratch", action="append", type=Path, default=[], help="a writable folder of the box")
    add("--size", type=int, help="bytes the box may write in all (its tmpfs)")
    add("--memory", type=int, help="bytes of data memory and of any one file")
    add("--processes", type=int, help="processes (and threads) of the user at most")
    add("--hide", action="append", type=Path, default=[], help="Landlock: a folder to hide")
    add("--visible", action="append", type=Path, default=[], help="Landlock: shown after all")
    add("--writable", action="append", type=Path, default=[], help="Landlock: may be written")
    add("--no-file-rules", dest="filesystem", action="store_false", help="Landlock: network only")
    add("--deny-network", action="store_true", help="Landlock: no TCP (ABI 4+)")
    add("--allow-bind", action="append", type=int, default=[], metavar="PORT")
    add("--no-landlock", dest="landlock", action="store_false", help="no Landlock rules")
    add("command", nargs=argparse.REMAINDER, help="the command to run, after --")
    return parser


def parse_launch(argv: Sequence[str]) -> Launch:
    """The :class:`Launch` the launcher's options ask for (SystemExit on bad options)."""
    parser = _parser()
    args = parser.parse_args(list(argv))
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given (put it after --)")
    box = None
    if args.box:
        box = boxes.Box(tuple(args.read_only), tuple(args.scratch), args.size)
    rules = None
    if args.landlock:
        rules = Rules(
            tuple(args.hide),
            tuple(args.visible),
            tuple(args.writable),
            args.deny_network,
            tuple(args.allow_bind),
            args.filesystem,
        )
    return Launch(
        tuple(command),
        box,
        rules,
        tuple(args.cgroup),
        args.subreaper,
        args.memory,
        args.processes,
    )


def apply(launch: Launch) -> None:
    """Isolate this process as ``launch`` says, for good (raises OSError). With a box, this
    returns in the box's first process; the caller then becomes COMMAND (``main`` execs it,
    :mod:`course.forking` runs a kernel in-process)."""
    for folder in launch.cgroups:
        cgroups.join(folder)
    if launch.subreaper:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(linux.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"PR_SET_CHILD_SUBREAPER: {os.strerror(errno)}")
    if launch.box is not None:
        boxes.enter(launch.box)
    boxes.limit_resources(launch.memory, launch.processes)
    if launch.rules is not None and (launch.rules.filesystem or landlock_abi() >= 1):
        restrict(launch.rules)  # in a box, Landlock only adds to it: skipped without one


def main(argv: Sequence[str] | None = None) -> int:
    """Isolate this process, then replace it with COMMAND."""
    launch = parse_launch(sys.argv[1:] if argv is None else argv)
    try:
        apply(launch)
    except OSError as error:
        print(f"{MODULE}: {error}", file=sys.stderr)
        return 126
    os.execvp(launch.command[0], launch.command)
    return 127  # not reached


if __name__ == "__main__":
    sys.exit(main())
