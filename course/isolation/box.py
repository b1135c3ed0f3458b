"""The box a grading kernel runs in: namespaces and a file system built from an allow-list.

:func:`enter` turns the calling process (single-threaded: a fresh launcher, or a child
just forked from the warm parent) into the first process of a box of its own:

* **user, mount, PID, IPC and UTS namespaces** (``unshare``; no privileges needed where the
  system allows unprivileged user namespaces). The same user and group ids inside as
  outside. A PID namespace needs one more ``fork``: the caller stays outside as a *keeper*
  that waits for the box and exits with its status (signals: SIGTERM and SIGHUP are passed
  on, SIGINT is left to the process group; when the process that started it ends, a
  grader or a warm parent, the keeper ends the box, as a kernel ends with its parent); the
  box's first process dies with its keeper (``PR_SET_PDEATHSIG``), and when it ends the
  kernel ends everything it started;
* **a new root**, a tmpfs of ``size`` bytes, holding only: the paths of
  :func:`allow_list` read-only (the system's programs and libraries, a few files of
  ``/etc``, Python's prefixes, the caller's ``read_only`` paths), its ``scratch`` folders
  (writable, at the same paths, each a copy of what the host folder held when the box was
  made), a private ``/tmp`` and ``/dev/shm``, five device files, a ``/proc`` of its own
  (only the box's processes) and synthetic ``/etc/passwd`` and ``/etc/group``. Everything
  the box writes lives in that one tmpfs, so ``size`` caps it all. No home folder, no host
  ``/tmp`` or ``/run``, hence no UNIX socket of the host (abstract ones live in the network
  namespace: :mod:`course.isolation.landlock` scopes them);
* **no capabilities** (bounding set emptied, ``no_new_privs``). :func:`limit_resources`
  (which :mod:`course.isolation.launch` applies next) sets ``RLIMIT_DATA`` (the memory the
  process adds to what it inherited), ``RLIMIT_FSIZE``, ``RLIMIT_NPROC`` (counted per user
  namespace: in a box, the box's own processes) and no core files.

Example (what ``python -m course.isolation.launch --box ... -- COMMAND`` does)::

    box = Box(read_only=(Path("/srv/kernel.json"),), scratch=(Path("/srv/work"),),
              size=2 * 2**30)
    enter(box)           # returns in the box's first process
    os.execvp(...)       # or run the kernel in-process (course.forking)
"""

from __future__ import annotations

import contextlib
import os
import resource
import select
import shutil
import signal
import socket
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

from course.isolation import linux

#: Top-level entries of ``/`` the box shows read-only (symbolic links stay links).
SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
#: The pieces of ``/etc`` a Python kernel needs (the dynamic loader, time zone, host names).
ETC_PATHS = (
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/localtime",
    "/etc/timezone",
    "/etc/nsswitch.conf",
    "/etc/host.conf",
    "/etc/alternatives",
    "/etc/mime.types",
)
#: CPU topology, read by NumPy's and TensorFlow's thread pools.
SYS_PATHS = ("/sys/devices/system/cpu",)
#: The device files a kernel gets (read and write); nothing else of the host's ``/dev``.
DEVICES = ("null", "zero", "full", "random", "urandom")
HOSTNAME = "grading-box"


@dataclass(frozen=True)
class Box:
    """What one box holds besides the system (:func:`allow_list`); see the module doc."""

    read_only: tuple[Path, ...] = ()
    scratch: tuple[Path, ...] = ()
    size: int | None = None

    def arguments(self) -> list[str]:
        """Options of ``python -m course.isolation.launch`` for this box.

        >>> Box(read_only=(Path("/k.json"),), scratch=(Path("/s"),), size=2**20).arguments()
        ['--box', '--read-only', '/k.json', '--scratch', '/s', '--size', '1048576']
        """
        args = ["--box"]
        for option, paths in (("--read-only", self.read_only), ("--scratch", self.scratch)):
            for path in paths:
                args += [option, str(path)]
        if self.size:
            args += ["--size", str(self.size)]
        return args


def python_paths() -> list[Path]:
    """This interpreter's prefixes (the virtual environment and the Python it was made from)."""
    prefixes = (sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix)
    return [Path(p) for p in dict.fromkeys(os.path.realpath(p) for p in prefixes)]


def allow_list(box: Box) -> list[Path]:
    """Every host path the box shows read-only, outermost first (those that exist).

    >>> Path("/usr") in allow_list(Box()), Path("/home") in allow_list(Box())
    (True, False)
    """
    wanted = [*SYSTEM_PATHS, *ETC_PATHS, *SYS_PATHS, *python_paths(), *box.read_only]
    found: list[Path] = []
    for path in dict.fromkeys(Path(p) for p in wanted):
        if os.path.lexists(path) and not any(_within(path, kept) for kept in found):
            found.append(path)
    return sorted(found, key=lambda p: len(p.parts))


def _within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


class _Staging:
    """The new root while it is built: host paths are reached through descriptors opened
    before anything was mounted."""

    def __init__(self, root: str) -> None:
        self.root = root

    def at(self, path: Path | str) -> str:
        return self.root + str(path)

    def make_folder(self, path: Path, mode: int = 0o755) -> None:
        target = self.at(path)
        try:
            os.makedirs(target, mode=mode, exist_ok=True)
        except OSError:
            if not os.path.isdir(target):  # inside a read-only bind: it must exist there
                raise

    def make_file(self, path: Path) -> None:
        self.make_folder(path.parent)
        if not os.path.exists(self.at(path)):
            with open(self.at(path), "w"):
                pass


def _open_path(path: Path) -> int:
    return os.open(path, os.O_PATH | os.O_CLOEXEC)


def _identity_files(staging: _Staging, uid: int, gid: int) -> None:
    """``/etc/passwd`` and ``/etc/group`` naming only the box's user (home: ``/tmp``)."""
    name = "learner" if uid else "root"
    staging.make_folder(Path("/etc"))
    with open(staging.at("/etc/passwd"), "w") as file:
        file.write(f"{name}:x:{uid}:{gid}:grading kernel:/tmp:/usr/sbin/nologin\n")
        if uid != 65534:
            file.write("nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
    with open(staging.at("/etc/group"), "w") as file:
        file.write(f"{name}:x:{gid}:\n")
    with open(staging.at("/etc/hosts"), "w") as file:
        file.write(f"127.0.0.1 localhost {HOSTNAME}\n::1 localhost\n")


def _build_root(box: Box) -> str:
    """Mount the new root on ``/tmp`` of this (new) mount namespace and fill it; returns it.
    Host paths are opened first: ``/tmp`` and what lies below it is covered next."""
    root = "/tmp"
    linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
    sources = {path: _open_path(path) for path in allow_list(box)}
    links = {
        path: os.readlink(path)
        for path in sources
        if path.parent == Path("/") and os.path.islink(path)
    }
    seeds = {Path(path): _open_path(Path(path)) for path in box.scratch}
    size = f",size={box.size}" if box.size else ""
    linux.mount("tmpfs", root, "tmpfs", linux.MS_NOSUID | linux.MS_NODEV, f"mode=0755{size}")
    staging = _Staging(root)
    for path, fd in sources.items():
        host = f"/proc/self/fd/{fd}"
        info = os.stat(host)
        if path in links:
            os.symlink(links[path], staging.at(path))  # /lib -> usr/lib
            continue
        if stat.S_ISDIR(info.st_mode):
            staging.make_folder(path)
        else:
            staging.make_file(path)
        linux.bind(host, staging.at(path), read_only=True)
    _identity_files(staging, os.getuid(), os.getgid())
    for name in ("tmp", "dev/shm"):
        staging.make_folder(Path("/") / name)
        os.chmod(staging.at(f"/{name}"), 0o1777)
    for device in DEVICES:
        staging.make_file(Path("/dev") / device)
        linux.bind(f"/dev/{device}", staging.at(f"/dev/{device}"), read_only=False)
    for name, target in (
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ):
        os.symlink(target, staging.at(f"/dev/{name}"))
    for index, (path, fd) in enumerate(seeds.items()):
        inside = Path(f"/.scratch/{index}")
        staging.make_folder(inside, 0o700)
        with contextlib.suppress(OSError):
            shutil.copytree(f"/proc/self/fd/{fd}", staging.at(inside), dirs_exist_ok=True)
        staging.make_folder(path)
        linux.bind(staging.at(inside), staging.at(path), read_only=False)
    # Folders made on the way to what lies below /tmp (the scratch folder's parents) are
    # not the box's to write: only /tmp itself is.
    for top in {Path(*p.parts[:3]) for p in (*sources, *seeds) if p.parts[1:2] == ("tmp",)}:
        if top not in sources and top not in seeds:
            linux.bind(staging.at(top), staging.at(top), read_only=True)
    staging.make_folder(Path("/proc"))  # the box's own: it shows the new PID namespace
    flags = linux.MS_NOSUID | linux.MS_NODEV | linux.MS_NOEXEC
    linux.mount("proc", staging.at("/proc"), "proc", flags)
    for fd in (*sources.values(), *seeds.values()):
        os.close(fd)
    return root


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (OSError, AttributeError):  # it has ended (or this is not Linux 5.3+)
        return None


def _keep(child: int, starter: int) -> None:
    """The keeper's life: pass SIGTERM and SIGHUP on to the box, end it when ``starter``
    (the process that started the box: a grader, or the warm parent a kernel was forked
    from) ends, wait, exit like it. In the box, a kernel cannot see its parent end (its
    parent pid is 0), as a kernel outside does; its keeper sees it instead."""
    os.closerange(3, _max_fd())  # close_range(2): one call, however high the limit

    def forward(signum: int, frame: object) -> None:
        with contextlib.suppress(OSError):
            os.kill(child, signum)

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the process group's interrupt reaches the box
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, forward)
    box, started_by = _pidfd(child), _pidfd(starter)
    if started_by is None or os.getppid() != starter:  # it has ended already
        with contextlib.suppress(OSError):
            os.kill(child, signal.SIGKILL)
    elif box is not None:
        ready, _, _ = select.select([box, started_by], [], [])
        if box not in ready:
            with contextlib.suppress(OSError):
                os.kill(child, signal.SIGKILL)
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except ChildProcessError:
            os._exit(1)
        except InterruptedError:
            continue
    if os.WIFSIGNALED(status):  # end the same way: who started the box sees the signal
        signum = os.WTERMSIG(status)
        with contextlib.suppress(OSError, ValueError):  # SIGKILL and SIGSTOP have no handler
            signal.signal(signum, signal.SIG_DFL)
        with contextlib.suppress(OSError):
            os.kill(os.getpid(), signum)
        os._exit(128 + signum)
    os._exit(os.waitstatus_to_exitcode(status))


def _max_fd() -> int:
    return min(resource.getrlimit(resource.RLIMIT_NOFILE)[0], 65536)


def limit_resources(memory: int | None, processes: int | None) -> None:
    """No core files; with ``memory``, ``RLIMIT_DATA`` (what this process has mapped as
    data now, a warm parent's imports, plus ``memory``) and ``RLIMIT_FSIZE``; with
    ``processes``, ``RLIMIT_NPROC``."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if memory:
        data = _vm_data() + memory
        resource.setrlimit(resource.RLIMIT_DATA, (data, data))
        resource.setrlimit(resource.RLIMIT_FSIZE, (memory, memory))
    if processes:
        resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))


def _vm_data() -> int:
    with contextlib.suppress(OSError, ValueError, IndexError):
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmData:"):
                    return int(line.split()[1]) * 1024
    return 0


def enter(box: Box) -> None:
    """Make this process the first process of a new box (see the module docstring);
    returns in the box (the keeper never returns). Raises OSError before the fork."""
    uid, gid = os.getuid(), os.getgid()
    cwd = os.getcwd()
    starter = os.getppid()
    last_cap = linux.last_capability()
    linux.unshare(
        linux.CLONE_NEWUSER
        | linux.CLONE_NEWNS
        | linux.CLONE_NEWPID
        | linux.CLONE_NEWIPC
        | linux.CLONE_NEWUTS
    )
    linux.write_id_maps(uid, gid)
    child = os.fork()
    if child:
        _keep(child, starter)  # never returns
    try:
        linux.prctl(linux.PR_SET_PDEATHSIG, signal.SIGKILL)
        root = _build_root(box)
        os.mkdir(f"{root}/.old")
        linux.pivot_root(root, f"{root}/.old")
        os.chdir("/")
        linux.umount("/.old")
        os.rmdir("/.old")
        for folder in ("/tmp", "/dev/shm"):  # writable; the rest of the root is not
            linux.bind(folder, folder, read_only=False)
        linux.mount(None, "/", None, linux.MS_BIND | linux.MS_REMOUNT | linux.MS_RDONLY)
        with contextlib.suppress(OSError):
            socket.sethostname(HOSTNAME)
        linux.drop_capabilities(last_cap)
        try:
            os.chdir(cwd)
        except OSError:
            os.chdir("/tmp")
    except BaseException as error:  # noqa: BLE001 - the box's first process must not go on
        print(f"course.isolation.box: {error}", file=sys.stderr, flush=True)
        os._exit(126)
