"""The few Linux system calls the box needs that Python's ``os`` module lacks (``ctypes``).

Namespaces (``unshare``), mounts (``mount``, ``umount2``, ``pivot_root``), capabilities
(``capset``, ``PR_CAPBSET_DROP``) and a few ``prctl`` options. Each raises OSError with the
system's message when the call fails.

Example::

    >>> namespaces_available() in (True, False)
    True
"""

from __future__ import annotations

import ctypes
import os
import platform
import subprocess
import sys

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_NOATIME, MS_NODIRATIME, MS_BIND = 32, 1024, 2048, 4096
MS_REC, MS_PRIVATE, MS_RELATIME = 16384, 1 << 18, 1 << 21
MNT_DETACH = 2

PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 1, 24, 38
PR_SET_CHILD_SUBREAPER = 36

#: ``statvfs`` flags -> the mount flags that must be kept when a bind mount is remounted
#: (inside a user namespace, the kernel refuses to clear flags the host set).
_LOCKED = {1: MS_RDONLY, 2: MS_NOSUID, 4: MS_NODEV, 8: MS_NOEXEC, 1024: MS_NOATIME}
_LOCKED.update({2048: MS_NODIRATIME, 4096: MS_RELATIME})

_SYSCALLS = {
    "x86_64": {"pivot_root": 155, "capset": 126},
    "aarch64": {"pivot_root": 41, "capset": 91},
}

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> int:
    if result < 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")
    return result


def _syscall(name: str) -> int:
    try:
        return _SYSCALLS[platform.machine()][name]
    except KeyError:
        raise OSError(f"{name}: unsupported architecture {platform.machine()}") from None


def unshare(flags: int) -> None:
    """Move this process into new namespaces (``CLONE_NEW*`` flags)."""
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str = "") -> None:
    """``mount(2)``."""
    _check(
        _libc.mount(
            None if source is None else source.encode(),
            target.encode(),
            None if fstype is None else fstype.encode(),
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        f"mount {source or fstype} on {target}",
    )


def bind(source: str, target: str, read_only: bool = True) -> None:
    """Bind ``source`` (a path, or ``/proc/self/fd/N``) on ``target``; read-only unless
    asked, keeping the flags the host's mount has (nosuid, nodev, ...)."""
    mount(source, target, None, MS_BIND | MS_REC)
    if read_only:
        kept = 0
        info = os.statvfs(target)
        for flag, mount_flag in _LOCKED.items():
            if info.f_flag & flag:
                kept |= mount_flag
        mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | kept)


def umount(target: str) -> None:
    """Detach ``target`` (lazily: what still uses it keeps it until it lets go)."""
    _check(_libc.umount2(target.encode(), ctypes.c_int(MNT_DETACH)), f"umount {target}")


def pivot_root(new_root: str, put_old: str) -> None:
    """``pivot_root(2)``: ``new_root`` becomes ``/``, the old root moves to ``put_old``."""
    _check(_libc.syscall(_syscall("pivot_root"), new_root.encode(), put_old.encode()), "pivot_root")


def prctl(option: int, value: int) -> None:
    _check(_libc.prctl(ctypes.c_int(option), ctypes.c_ulong(value), 0, 0, 0), f"prctl {option}")


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32)]
    _fields_ += [("inheritable", ctypes.c_uint32)]


def drop_capabilities(last_cap: int) -> None:
    """Give up every capability for good: the bounding set (so no ``exec`` gets one back,
    not even as root of a user namespace), then the process's own sets; and no new ones
    through set-user-id programs (``PR_SET_NO_NEW_PRIVS``)."""
    for cap in range(last_cap + 1):
        prctl(PR_CAPBSET_DROP, cap)
    header = _CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3
    data = (_CapData * 2)()
    _check(_libc.syscall(_syscall("capset"), ctypes.byref(header), ctypes.byref(data)), "capset")
    prctl(PR_SET_NO_NEW_PRIVS, 1)


def last_capability() -> int:
    """The highest capability number this kernel knows."""
    try:
        with open("/proc/sys/kernel/cap_last_cap") as file:
            return int(file.read())
    except (OSError, ValueError):
        return 40


def write_id_maps(uid: int, gid: int) -> None:
    """In a new user namespace: the same user and group ids inside as outside (one each)."""
    with open("/proc/self/setgroups", "w") as file:
        file.write("deny")
    with open("/proc/self/uid_map", "w") as file:
        file.write(f"{uid} {uid} 1")
    with open("/proc/self/gid_map", "w") as file:
        file.write(f"{gid} {gid} 1")


_available: bool | None = None


def namespaces_available() -> bool:
    """Whether this system lets an unprivileged process make the box's namespaces (user,
    mount, PID, IPC) and mount a ``proc`` of its own: tried once, in a child process."""
    global _available
    if _available is None:
        if not sys.platform.startswith("linux") or platform.machine() not in _SYSCALLS:
            _available = False
        else:
            probe = (
                "import os\n"
                "from course.isolation import linux as ns\n"
                "u, g = os.getuid(), os.getgid()\n"
                "ns.unshare(ns.CLONE_NEWUSER | ns.CLONE_NEWNS | ns.CLONE_NEWPID\n"
                "           | ns.CLONE_NEWIPC)\n"
                "ns.write_id_maps(u, g)\n"
                "pid = os.fork()\n"
                "if pid == 0:\n"
                "    ns.mount(None, '/', None, ns.MS_REC | ns.MS_PRIVATE)\n"
                "    ns.mount('tmpfs', '/tmp', 'tmpfs', 0, 'size=1m')\n"
                "    os.mkdir('/tmp/proc')\n"
                "    ns.mount('proc', '/tmp/proc', 'proc', ns.MS_NOSUID | ns.MS_NODEV)\n"
                "    os._exit(0)\n"
                "os._exit(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))\n"
            )
            try:
                result = subprocess.run(
                    [sys.executable, "-c", probe], capture_output=True, timeout=60, check=False
                )
            except (OSError, subprocess.SubprocessError):
                _available = False
            else:
                _available = result.returncode == 0
    return _available
