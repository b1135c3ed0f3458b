"""The fallback where there is no box: Linux Landlock rules that hide a list of paths.

Where the system cannot make the box's namespaces (:mod:`course.isolation.box`), a grading
kernel runs with the teacher's user id on the host's file system, and these rules keep it
out of what they name. Landlock (Linux 5.13+, no privileges needed) lets a process give up
file access for itself and every process it starts, for good. The launcher
(:mod:`course.isolation.launch`) applies them, then ``exec``s the kernel:

* **read**: everything, except below a ``--hide`` folder, where only the ``--visible``
  paths inside it can be read (the virtual environment, the packages the notebook imports).
  Folder *listings* stay allowed everywhere: file names are not secret, and Python's import
  system lists the folders on ``sys.path``. What the list does not name stays readable
  (the reason the box replaced it where it can);
* **write**: only below ``--writable`` folders (the kernel's scratch folder) and a few
  device files (``/dev/null``, ``/dev/zero``, ``/dev/full``, ``/dev/random``,
  ``/dev/urandom``; not a terminal); nothing is created, renamed or deleted anywhere
  else, not in ``/dev/shm`` either;
* **network** (``--deny-network``, Landlock ABI 4, Linux 6.7+): no TCP connection can be
  opened and no TCP port bound, except the ports given with ``--allow-bind`` (the
  kernel's own ZMQ ports). UDP and UNIX sockets are not covered by Landlock;
* **scopes**: with Landlock ABI 6 (Linux 6.12+), the kernel cannot signal or ``ptrace``
  processes outside its sandbox, nor connect to an abstract UNIX socket made outside it.

Inside a box the launcher applies only the last two (``--no-file-rules``): the box's file
system is its own.

A denied access fails like a missing permission (``PermissionError``), so the notebook
goes on and is graded. :func:`landlock_abi` says whether the running system supports
Landlock (0: it does not; the grader then says so).

Example::

    >>> paths = readable_paths(hide=[Path("/no/such/course")], visible=[])
    >>> Path("/") in paths    # nothing hidden exists: the whole file system stays readable
    True
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

# Landlock's system calls have the same numbers on every architecture.
_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38

# Filesystem access rights (include/uapi/linux/landlock.h) and the ABI that added them.
EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REMOVE_DIR, REMOVE_FILE, MAKE_CHAR, MAKE_DIR = 1 << 4, 1 << 5, 1 << 6, 1 << 7
MAKE_REG, MAKE_SOCK, MAKE_FIFO, MAKE_BLOCK, MAKE_SYM = 1 << 8, 1 << 9, 1 << 10, 1 << 11, 1 << 12
REFER = 1 << 13  # ABI 2
TRUNCATE = 1 << 14  # ABI 3
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1  # ABI 6
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1  # ABI 4
_RULE_NET_PORT = 2
_PR_SET_CHILD_SUBREAPER = 36
#: Device files a sandboxed process may still write (everything else in /dev is read-only).
WRITABLE_DEVICES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom")

_ABI1_FS = (1 << 13) - 1
#: Rights that apply to a file (a rule on a regular file may grant only these).
_FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE
READ = READ_FILE | READ_DIR | EXECUTE


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class _NetPortAttr(ctypes.Structure):
    _fields_ = [("allowed_access", ctypes.c_uint64), ("port", ctypes.c_uint64)]


class SandboxError(OSError):
    """Landlock is missing or refused a rule."""


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def landlock_abi() -> int:
    """The Landlock ABI version of the running kernel; 0 if Landlock is unavailable
    (not Linux, too old, or not enabled at boot)."""
    if not sys.platform.startswith("linux"):
        return 0
    try:
        version = _libc().syscall(
            _SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION)
        )
    except (OSError, AttributeError):
        return 0
    return max(int(version), 0)


def _within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def readable_paths(
    hide: Iterable[Path], visible: Iterable[Path], root: Path = Path("/")
) -> list[Path]:
    """The fewest paths whose hierarchies cover everything readable: all of ``root`` but
    what lies below a ``hide`` path, except the ``visible`` paths inside it.

    The deepest ``hide`` or ``visible`` path above a file decides: a folder hidden inside
    a visible one (an exchange under ``/usr/local``, the Python base prefix) stays hidden,
    a package visible inside a hidden course stays readable.

    Landlock rules only *grant* access to a path and everything below it, so a hidden
    folder is cut out by granting its siblings, and its ancestors' siblings, one by one.
    Entries created later next to a hidden folder are therefore not readable.

    >>> import tempfile
    >>> top = Path(tempfile.mkdtemp())
    >>> names = ("course/solutions", "course/helpers", "other", "usr/share/exchange", "usr/lib")
    >>> for name in names:
    ...     (top / name).mkdir(parents=True)
    >>> (top / "course" / "nbgrader_config.py").touch()
    >>> paths = readable_paths([top / "course", top / "usr/share/exchange"],
    ...                        [top / "course" / "helpers", top / "usr"], root=top)
    >>> sorted(str(p.relative_to(top)) for p in paths)
    ['course/helpers', 'other', 'usr/lib']
    """
    hide = {Path(p).resolve() for p in hide if Path(p).exists()}
    visible = {Path(p).resolve() for p in visible if Path(p).exists()} - hide
    marks = hide | visible
    result: list[Path] = []

    def readable(path: Path) -> bool:
        deepest = max(
            (m for m in marks if _within(path, m)), key=lambda m: len(m.parts), default=None
        )
        return deepest is None or deepest in visible

    def visit(path: Path) -> None:
        state = readable(path)
        if not any(_within(m, path) and m != path and readable(m) != state for m in marks):
            if state:
                result.append(path)
            return
        try:
            entries = sorted(os.scandir(path), key=lambda entry: entry.name)
        except OSError:
            return
        for entry in entries:
            if not entry.is_symlink():  # a link is read through its target's rules
                visit(Path(entry.path))

    visit(Path(root).resolve())
    return result


@dataclass(frozen=True)
class Rules:
    """What a sandboxed process may do with files; see the module docstring."""

    hide: tuple[Path, ...] = ()
    visible: tuple[Path, ...] = ()
    writable: tuple[Path, ...] = ()
    #: Deny TCP connect and bind (Landlock ABI 4+), except binding ``bind_ports``.
    deny_network: bool = False
    bind_ports: tuple[int, ...] = ()
    #: False: no file rules at all (inside a box, whose file system is its own), only the
    #: network and, with ABI 6, the scopes (signals, abstract UNIX sockets).
    filesystem: bool = True

    def arguments(self) -> list[str]:
        """The Landlock options of ``python -m course.isolation.launch`` for these rules.

        >>> rules = Rules(hide=(Path("/c"),), writable=(Path("/s"),), deny_network=True,
        ...               bind_ports=(5555,))
        >>> rules.arguments()
        ['--hide', '/c', '--writable', '/s', '--deny-network', '--allow-bind', '5555']
        """
        args = []
        for option, paths in (
            ("--hide", self.hide),
            ("--visible", self.visible),
            ("--writable", self.writable),
        ):
            for path in paths:
                args += [option, str(path)]
        if not self.filesystem:
            args.append("--no-file-rules")
        if self.deny_network:
            args.append("--deny-network")
        for port in self.bind_ports:
            args += ["--allow-bind", str(port)]
        return args


def package_location(module: str) -> Path | None:
    """Where the top-level package of ``module`` lives (its folder, or its file)."""
    try:
        spec = importlib.util.find_spec(module.split(".")[0])
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations))).resolve()
    if spec.origin and os.path.isabs(spec.origin):
        return Path(spec.origin).resolve()
    return None  # built-in or frozen


def course_rules(
    course_dir: Path,
    modules: Iterable[str] = (),
    also_hide: Iterable[Path] = (),
    also_visible: Iterable[Path] = (),
) -> Rules:
    """The rules for a kernel grading notebooks of ``course_dir`` where there is no box:
    no network; hide the course folder, the grader's Jupyter runtime folder (connection
    files) and ``also_hide`` (the fork servers' folder, the exchange, a gradebook kept
    elsewhere); keep the Python
    environment readable, the packages of ``modules`` (what the notebooks import) and
    ``also_visible`` (e.g. a shared read-only cache inside the course).

    A package installed from a course folder (the kit's ``helpers``, an editable install
    of the course repository) stays readable, and that course folder is hidden too: its
    ``solutions/`` are the same ones.

    >>> rules = course_rules(Path("/srv/course"), ["os"])
    >>> rules.hide[0], Path(sys.prefix).resolve() in rules.visible, rules.deny_network
    (PosixPath('/srv/course'), True, True)
    """
    from jupyter_core.paths import jupyter_runtime_dir

    from course.config import find_root

    # The grader's Jupyter runtime folder holds connection files (ports and keys) of kernels;
    # the caller adds the fork servers' folder (the token that asks for an unsandboxed kernel).
    hide = [
        Path(course_dir).resolve(),
        Path(jupyter_runtime_dir()).resolve(),
        *(Path(p).resolve() for p in also_hide),
    ]
    visible = [
        Path(p).resolve() for p in dict.fromkeys((sys.prefix, sys.exec_prefix, sys.base_prefix))
    ]
    visible += [Path(p).resolve() for p in also_visible]
    for module in modules:
        location = package_location(module)
        if location is None or any(_within(location, prefix) for prefix in visible):
            continue
        visible.append(location)
        try:
            root = find_root(location.parent)
        except FileNotFoundError:
            continue
        if root not in hide:
            hide.append(root)
    return Rules(tuple(hide), tuple(visible), deny_network=True)


def restrict(rules: Rules, abi: int | None = None) -> int:
    """Apply ``rules`` to this process and every process it starts from now on (for
    good: there is no way back). Returns the ABI used; raises SandboxError when Landlock
    is unavailable or refuses a rule."""
    abi = landlock_abi() if abi is None else abi
    if abi < 1:
        raise SandboxError("Landlock is not available on this system")
    handled = _ABI1_FS | (REFER if abi >= 2 else 0) | (TRUNCATE if abi >= 3 else 0)
    if not rules.filesystem:
        handled = 0
    scoped = (SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL) if abi >= 6 else 0
    handled_net = (NET_BIND_TCP | NET_CONNECT_TCP) if rules.deny_network and abi >= 4 else 0
    read = READ & handled
    device = (READ_FILE | WRITE_FILE | TRUNCATE) & handled
    libc = _libc()

    def check(result: int, what: str) -> int:
        if result < 0:
            errno = ctypes.get_errno()
            raise SandboxError(errno, f"Landlock: {what}: {os.strerror(errno)}")
        return result

    if not (handled or handled_net or scoped):
        return abi  # nothing this system's Landlock could add
    attr = _RulesetAttr(handled, handled_net, scoped)
    size = ctypes.sizeof(attr) if abi >= 6 else 16  # older kernels know the first two fields only
    ruleset = check(
        libc.syscall(
            _SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0)
        ),
        "create ruleset",
    )
    try:
        grants: list[tuple[Path, int]] = []
        if handled:
            grants += [(Path("/"), READ_DIR)]
            grants += [(path, read) for path in readable_paths(rules.hide, rules.visible)]
            grants += [(Path(path), handled) for path in rules.writable]
            grants += [(Path(path), device) for path in WRITABLE_DEVICES]
        for path, access in grants:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue  # vanished since it was listed
            try:
                if not os.path.isdir(f"/proc/self/fd/{fd}"):
                    access &= _FILE_RIGHTS
                if not access:
                    continue
                rule = _PathBeneathAttr(access, fd)
                check(
                    libc.syscall(
                        _SYS_ADD_RULE,
                        ruleset,
                        _RULE_PATH_BENEATH,
                        ctypes.byref(rule),
                        ctypes.c_uint32(0),
                    ),
                    f"add rule for {path}",
                )
            finally:
                os.close(fd)
        for port in rules.bind_ports if handled_net else ():
            net_rule = _NetPortAttr(NET_BIND_TCP, int(port))
            check(
                libc.syscall(
                    _SYS_ADD_RULE,
                    ruleset,
                    _RULE_NET_PORT,
                    ctypes.byref(net_rule),
                    ctypes.c_uint32(0),
                ),
                f"add rule for port {port}",
            )
        check(libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
        check(libc.syscall(_SYS_RESTRICT_SELF, ruleset, ctypes.c_uint32(0)), "restrict self")
    finally:
        os.close(ruleset)
    return abi
