"""Find, start, ask and stop fork servers (the caller's side of :mod:`course.forking.protocol`).

Example::

    folder = server_folder_for(sys.executable, env)
    forked = await request_fork(folder, argv, env, cwd, stdio=(0, 1, 2))
    forked.pid                       # the kernel's process id (its process group too)
    forked.poll()                    # None while it runs, then its exit code
    stop_server(folder)              # what tests do with the servers they started
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import errno
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from course.config import environment
from course.forking import protocol

#: Variables of the caller's own environment a server starts with (it gets no other
#: variable of the caller's: children inherit its memory, its initial environment too).
BASE_VARS = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR")
#: Seconds to wait for a new server to import everything and listen.
START_TIMEOUT = 180.0

_started: dict[Path, subprocess.Popen] = {}


class ForkUnavailable(RuntimeError):
    """No kernel could be forked; ``warn`` says whether the user should be told."""

    def __init__(self, reason: str, warn: bool = True) -> None:
        super().__init__(reason)
        self.warn = warn


def server_environment(kernel_env: Mapping[str, str]) -> dict[str, str]:
    """The environment of the server for kernels with ``kernel_env``: a few of the
    caller's variables (:data:`BASE_VARS`, ``LC_*``) and the kernel's import settings.

    >>> env = server_environment({"KERAS_BACKEND": "jax", "COURSE_GRADE_KERNEL": "k1"})
    >>> env["KERAS_BACKEND"], "COURSE_GRADE_KERNEL" in env
    ('jax', False)
    """
    env = {
        name: value
        for name, value in os.environ.items()
        if name in BASE_VARS or name.startswith("LC_")
    }
    env.update(
        (name, value)
        for name, value in kernel_env.items()
        if name in protocol.IMPORT_VARS or name.startswith(protocol.IMPORT_PREFIXES)
    )
    return env


def server_folder_for(python: str, kernel_env: Mapping[str, str], base: Path | None = None) -> Path:
    """The private folder of the server that may fork kernels of ``python`` with
    ``kernel_env``, below ``base`` (default: :func:`protocol.base_folder`); raises OSError,
    protocol.UnsafeFolder, when it cannot be used."""
    env = server_environment(kernel_env)
    environ = None if base is None else {protocol.DIR_VAR: str(base)}
    return protocol.server_folder(protocol.server_key(python, env), environ)


_own_base: Path | None = None


def own_servers_folder() -> Path:
    """A private folder for warm parents only this process starts and asks (created at
    first use, random name, mode 0700; removed at exit). The kit's provisioner forks
    plain ``nbgrader autograde``'s grading kernels from one there, never from a parent
    another process started."""
    global _own_base
    if _own_base is None:
        _own_base = Path(tempfile.mkdtemp(prefix="course-forking-grading-"))
        atexit.register(shutil.rmtree, _own_base, True)
    return _own_base


def _connect(folder: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(30)
    try:
        sock.connect(str(folder / "socket"))
    except OSError:
        sock.close()
        raise
    return sock


def _token(folder: Path) -> str:
    return (folder / "token").read_text().strip()


def server_owner() -> str:
    """The pid whose end lets a new server exit once it has no kernels: ``KIT_FORK_OWNER``,
    else this process (a Jupyter server, ``nbgrader``, ``course grade``).

    >>> server_owner() == os.environ.get(protocol.OWNER_VAR, str(os.getpid()))
    True
    """
    owner = os.environ.get(protocol.OWNER_VAR, "")
    return owner if owner.isdigit() else str(os.getpid())


def start_server(folder: Path, python: str, kernel_env: Mapping[str, str]) -> None:
    """Start a server for ``folder`` in the background (it exits by itself if one runs)."""
    old = _started.pop(folder, None)
    if old is not None:
        old.poll()
    with open(folder / "server.log", "ab") as log:
        _started[folder] = subprocess.Popen(
            [python, "-m", "course.forking.server", str(folder), server_owner()],
            env=server_environment(kernel_env),
            cwd=folder,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            close_fds=True,
        )


async def connect(
    folder: Path, python: str, kernel_env: Mapping[str, str], timeout: float = START_TIMEOUT
) -> socket.socket:
    """A connection to the server of ``folder``, started first if none runs.

    Raises ForkUnavailable when a server there died (its socket is left behind: it is
    removed, so the next kernel starts a new server) or a new one does not come up."""
    try:
        return _connect(folder)
    except (ConnectionRefusedError, FileNotFoundError) as error:
        if isinstance(error, ConnectionRefusedError):
            with contextlib.suppress(FileNotFoundError):
                (folder / "socket").unlink()
            raise ForkUnavailable(f"the fork server in {folder} died") from None
    start_server(folder, python, kernel_env)
    process = _started[folder]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(ConnectionRefusedError, FileNotFoundError):
            return _connect(folder)
        code = process.poll()
        if code not in (None, 0):
            raise ForkUnavailable(
                f"the fork server could not start (exit {code}; see {folder / 'server.log'})"
            )
        await asyncio.sleep(0.05)
    raise ForkUnavailable(f"the fork server did not start within {timeout:.0f} s")


@dataclass
class ForkedKernel:
    """A kernel forked by a server: its pid and the connection that reports its exit."""

    pid: int
    connection: socket.socket | None
    exit_code: int | None = None
    #: Its server went away before the kernel ended (the kernel ends with it).
    orphaned: bool = False
    _buffer: bytes = field(default=b"", repr=False)

    def poll(self) -> int | None:
        """The kernel's exit code (negative: killed by that signal), None while it runs."""
        if self.exit_code is not None:
            return self.exit_code
        if self.connection is None:
            if not _alive(self.pid):
                self.exit_code = -signal.SIGKILL if self.orphaned else 1
            return self.exit_code
        try:
            while True:
                chunk = self.connection.recv(65536, socket.MSG_DONTWAIT)
                if not chunk:
                    return self._lost()
                self._buffer += chunk
                self._parse()
                if self.exit_code is not None:
                    self.close()
                    return self.exit_code
        except BlockingIOError:
            return self.exit_code
        except OSError:
            return self._lost()

    def _parse(self) -> None:
        while len(self._buffer) >= 4:
            length = int.from_bytes(self._buffer[:4], "big")
            if len(self._buffer) < 4 + length:
                return
            message = json.loads(self._buffer[4 : 4 + length])
            self._buffer = self._buffer[4 + length :]
            if "exit" in message:
                self.exit_code = int(message["exit"])

    def _lost(self) -> int | None:
        """The server went away without a word: judge by the process itself. A kernel that
        ended with its parent is reported as killed (-SIGKILL): whatever ended it, it was
        not its notebook (course.isolation.kernels.killed_from_outside)."""
        self.close()
        self.orphaned = True
        if _alive(self.pid):
            self.connection = None
            return None
        self.exit_code = -signal.SIGKILL if self.exit_code is None else self.exit_code
        return self.exit_code

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


async def request_fork(
    folder: Path,
    argv: Sequence[str],
    env: Mapping[str, str],
    cwd: str,
    stdio: Sequence[int],
    python: str = sys.executable,
) -> ForkedKernel:
    """Ask the server of ``folder`` (started if needed) to fork the kernel ``argv`` with
    ``env`` in ``cwd``, its stdin/stdout/stderr on ``stdio``. Raises ForkUnavailable."""
    sock = await connect(folder, python, env)
    umask = os.umask(0o022)
    os.umask(umask)
    request = {
        "token": _token(folder),
        "argv": list(argv),
        "env": dict(env),
        "cwd": cwd,
        "umask": umask,
    }
    try:
        protocol.send(sock, request, list(stdio))
        answer, _ = protocol.receive(sock)
    except (OSError, ValueError) as error:
        sock.close()
        if isinstance(error, OSError) and error.errno == errno.ENAMETOOLONG:
            raise ForkUnavailable(f"socket path too long: {folder}") from None
        if isinstance(error, (ConnectionResetError, BrokenPipeError, protocol.Closed)):
            raise ForkUnavailable(f"the fork server in {folder} died: {error}") from None
        raise ForkUnavailable(f"the fork server did not answer: {error}") from None
    if "pid" not in answer:
        sock.close()
        raise ForkUnavailable(f"the fork server refused: {answer.get('error')}")
    sock.setblocking(False)  # poll() only reads what has arrived
    return ForkedKernel(int(answer["pid"]), sock)


def stop_server(folder: Path, timeout: float = 30.0) -> bool:
    """Ask the server of ``folder`` to exit and wait until it has; False if none ran."""
    try:
        sock = _connect(folder)
    except OSError:
        return False
    with sock:
        protocol.send(sock, {"op": "stop", "token": _token(folder)})
        with contextlib.suppress(OSError, ValueError):
            protocol.receive(sock)
    process = _started.pop(folder, None)
    if process is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout)
    else:
        deadline = time.monotonic() + timeout
        while (folder / "socket").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
    return True


@contextlib.contextmanager
def private_servers() -> Iterator[Path]:
    """Within the block, this process's kernels fork from warm parents of its own: a new
    private folder (``KIT_FORK_DIR``, random name, mode 0700), whose servers this process
    starts and stops at the end. What grading runs use: a server another process started
    (a teacher's JupyterLab, a notebook graded before) is never asked for a kernel.

    >>> with private_servers() as folder:
    ...     os.environ[protocol.DIR_VAR] == str(folder)
    True
    """
    folder = Path(tempfile.mkdtemp(prefix="course-forking-run-"))
    try:
        with environment(protocol.DIR_VAR, str(folder)):
            yield folder
    finally:
        for server in folder.iterdir():
            if (server / "socket").exists():
                with contextlib.suppress(OSError, ValueError):
                    stop_server(server, timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


def server_pid(folder: Path) -> int | None:
    """The pid of the server of ``folder`` (from its lock file), if one runs."""
    try:
        pid = int((folder / "lock").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if _alive(pid) else None
