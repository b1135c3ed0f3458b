"""The warm parent: imports the heavy modules once, then forks a kernel per request.

``python -m course.forking.server FOLDER [OWNER_PID]`` (started on demand by the provisioner,
with the environment of the first kernel that needs it; FOLDER from
:func:`course.forking.protocol.server_folder`; OWNER_PID is the process that started it: a
Jupyter server, ``nbgrader``, ``course grade``, pytest):

1. takes ``FOLDER/lock`` (a second server for the same folder exits at once);
2. imports :data:`WARM_MODULES` (the configured Keras backend with ``keras``), runs no
   TensorFlow operation and creates no ZMQ context, then freezes what it imported out of
   the garbage collector's sight (``gc.freeze``);
3. writes a new random token to ``FOLDER/token`` (mode 0600) and keeps only its hash, so a
   forked child finds nothing of it in the memory it inherits;
4. listens on ``FOLDER/socket``. A request is served only when the peer runs as the same
   user (``SO_PEERCRED``) and carries the token; the server then checks that it has
   exactly one thread (OpenBLAS's pools are shut down by a fork and not restarted, since
   the server computes nothing) and forks. The child becomes the kernel
   (:mod:`course.forking.child`); the server reaps it and sends its exit status over the
   request's connection. When that connection closes first (the kernel's manager is
   gone), the kernel is killed, as a kernel dies with the process that started it;
5. exits when it has no kernel left and its owner has ended (a learner's parent goes with
   their Jupyter server, a grader's with the grading run), after ``KIT_FORK_IDLE`` seconds
   (default 600) without kernels or requests, on SIGTERM, or on a ``{"op": "stop"}``
   request, removing its socket (the next kernel then starts a new server).

Example (what the provisioner does)::

    $ python -m course.forking.server ~/.cache/forking/0123456789abcdef &
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import hmac
import importlib
import logging
import os
import selectors
import signal
import socket
import struct
import sys
import threading
import time
from pathlib import Path
from typing import Any

from course.forking import protocol
from course.forking.child import become_kernel, kernel_command

log = logging.getLogger("course.forking.server")

#: Imported once by the warm parent (missing ones are skipped).
WARM_MODULES = (
    "numpy",
    "matplotlib",
    "matplotlib.pyplot",
    "sklearn",
    "sklearn.datasets",
    "keras",
    "helpers",
    "IPython",
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    "ipykernel.zmqshell",
    "ipykernel.debugger",  # debugpy: each kernel's start would import it otherwise
    "course.isolation.launch",
)


#: Seconds a connection has to deliver its whole request; requests being read at once.
REQUEST_TIMEOUT = 10.0
MAX_PENDING = 32


def malformed(request: dict[str, Any]) -> str | None:
    """What is wrong with a fork request's fields, if anything.

    >>> malformed({"argv": ["python"], "env": {}, "cwd": "/", "umask": 18})
    >>> malformed({"argv": "python", "env": {}, "cwd": "/", "umask": 18})
    'argv must be a list of strings'
    """
    argv, env = request.get("argv"), request.get("env")
    if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
        return "argv must be a list of strings"
    if not isinstance(env, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in env.items()
    ):
        return "env must map strings to strings"
    if not isinstance(request.get("cwd"), str):
        return "cwd must be a string"
    umask = request.get("umask")
    if not isinstance(umask, int) or isinstance(umask, bool) or not 0 <= umask <= 0o777:
        return "umask must be a number from 0 to 0o777"
    return None


def thread_count() -> int:
    """Threads of this process (native ones included: Linux's ``/proc/self/task``)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()


def warm_up(modules: tuple[str, ...] = WARM_MODULES) -> list[str]:
    """Import ``modules``; return those that failed. A throwaway fork then shuts down the
    thread pools that fork-aware libraries (OpenBLAS) start at import."""
    failed = []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as error:  # noqa: BLE001 (a missing optional module is fine)
            failed.append(f"{name}: {error}")
    # What the imports left behind lives as long as every kernel: out of the collector's
    # way. A kernel's ``gc.collect()`` (``keras.backend.clear_session()`` runs one) then
    # walks only the kernel's own objects, not the warm imports', and does not write
    # to the parent's pages that the kernels share (the ``gc.freeze`` advice for fork).
    gc.collect()
    gc.freeze()
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return failed


class Server:
    """One warm parent serving ``folder``; see the module docstring."""

    def __init__(self, folder: Path, idle: float, owner: int | None = None) -> None:
        self.folder = folder
        self.idle = idle
        #: The process that started this server has ended (or none was named).
        self.owner_gone = owner is None
        self.owner_fd: int | None = None
        self.selector = selectors.DefaultSelector()
        self.listener: socket.socket | None = None
        self.token_hash = ""
        #: pid -> (pidfd, connection of the request)
        self.kernels: dict[int, tuple[int, socket.socket]] = {}
        self.last_activity = time.monotonic()
        self.stopping = False
        #: Requests being read: connection -> (reader, deadline).
        self.pending: dict[socket.socket, tuple[protocol.Reader, float]] = {}
        #: The descriptor holding ``lock`` (children must not keep holding it).
        self.lock: int | None = None

    # -- setup

    def write_token(self) -> None:
        """A new token in ``token`` (0600); only its hash stays in this process."""
        token = bytearray(64)
        with open("/dev/urandom", "rb", buffering=0) as source:
            source.readinto(token)
        text = bytearray(token.hex().encode())
        path = self.folder / "token"
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, text)
        finally:
            os.close(fd)
        self.token_hash = protocol.token_hash(text)
        for buffer in (token, text):
            buffer[:] = bytes(len(buffer))

    def listen(self) -> None:
        path = self.folder / "socket"
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(path))
        os.chmod(path, 0o600)
        listener.listen(64)
        listener.setblocking(False)
        self.listener = listener
        self.selector.register(listener, selectors.EVENT_READ, ("accept", None))

    def watch_owner(self, owner: int) -> None:
        """Note when process ``owner`` ends (a pidfd becomes readable)."""
        if not hasattr(os, "pidfd_open"):  # not Linux: the idle timeout alone
            self.owner_gone = False
            return
        try:
            pidfd = os.pidfd_open(owner)
        except OSError:  # it has ended already
            self.owner_gone = True
            return
        self.owner_gone = False
        self.owner_fd = pidfd
        self.selector.register(pidfd, selectors.EVENT_READ, ("owner", pidfd))

    # -- loop

    def serve(self) -> None:
        while not self.stopping:
            if not self.kernels and self.owner_gone:
                log.info("no kernel left and the process that started this server ended: exiting")
                break
            timeout = None if self.kernels else max(0.0, self.idle_left())
            if self.pending:
                first = min(deadline for _, deadline in self.pending.values())
                wait = max(0.0, first - time.monotonic())
                timeout = wait if timeout is None else min(timeout, wait)
            for key, _events in self.selector.select(timeout):
                kind, value = key.data
                if kind == "accept":
                    self.accept()
                elif kind == "request":
                    if value in self.pending:
                        self.read_request(value)
                elif kind == "exit":
                    self.reap(value)
                elif kind == "connection":
                    self.hang_up(value)
                elif kind == "owner":
                    self.selector.unregister(value)
                    os.close(value)
                    self.owner_fd = None
                    self.owner_gone = True
            self.expire()
            if not self.kernels and not self.pending and self.idle_left() <= 0:
                log.info("idle for %s s: exiting", self.idle)
                break

    def idle_left(self) -> float:
        return self.last_activity + self.idle - time.monotonic()

    def accept(self) -> None:
        """A new connection: its peer is checked before anything is read; its request is
        then read as it arrives (:class:`protocol.Reader`), while the server goes on."""
        try:
            connection, _ = self.listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        self.last_activity = time.monotonic()
        if self._peer_uid(connection) != os.getuid() or len(self.pending) >= MAX_PENDING:
            connection.close()
            return
        connection.setblocking(False)
        reader = protocol.Reader(protocol.MAX_REQUEST, max_fds=3)
        self.pending[connection] = (reader, time.monotonic() + REQUEST_TIMEOUT)
        self.selector.register(connection, selectors.EVENT_READ, ("request", connection))

    def read_request(self, connection: socket.socket) -> None:
        """More of a pending request arrived: serve it once it is complete."""
        reader, _ = self.pending[connection]
        try:
            request = reader.feed(connection)
        except (OSError, ValueError) as error:
            log.warning("request refused: %s", error)
            self.drop(connection)
            return
        if request is None:
            return
        self.selector.unregister(connection)
        del self.pending[connection]
        fds, reader.fds = reader.fds, []
        connection.setblocking(True)
        connection.settimeout(REQUEST_TIMEOUT)
        try:
            self.handle(connection, request, fds)
        except Exception as error:  # noqa: BLE001 - no request may stop the server
            log.warning("request failed: %s: %s", type(error).__name__, error)
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
            if not any(connection is other for _, other in self.kernels.values()):
                connection.close()

    def drop(self, connection: socket.socket) -> None:
        """Forget a pending request (malformed, closed, or too slow)."""
        reader, _ = self.pending.pop(connection)
        reader.close()
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(connection)
        connection.close()

    def expire(self) -> None:
        """Drop the requests that did not arrive in time (a slow trickle)."""
        now = time.monotonic()
        for connection, (_, deadline) in list(self.pending.items()):
            if deadline <= now:
                log.warning("request refused: not complete within %s s", REQUEST_TIMEOUT)
                self.drop(connection)

    def _peer_uid(self, connection: socket.socket) -> int:
        creds = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        return struct.unpack("3i", creds)[1]

    def handle(self, connection: socket.socket, request: dict[str, Any], fds: list[int]) -> None:
        token = request.get("token", "")
        token = token.encode() if isinstance(token, str) else b""
        if not hmac.compare_digest(protocol.token_hash(token), self.token_hash):
            for fd in fds:
                os.close(fd)
            protocol.send(connection, {"error": "refused: wrong token"})
            connection.close()
            return
        if request.get("op") == "stop":
            self.stopping = True
            protocol.send(connection, {"stopping": True, "kernels": len(self.kernels)})
            connection.close()
            return
        problem = malformed(request)
        if problem:
            for fd in fds:
                os.close(fd)
            protocol.send(connection, {"error": f"refused: {problem}"})
            connection.close()
            return
        self.fork(connection, request, fds)

    def fork(self, connection: socket.socket, request: dict[str, Any], fds: list[int]) -> None:
        def refuse(reason: str) -> None:
            for fd in fds:
                os.close(fd)
            protocol.send(connection, {"error": reason})
            connection.close()

        command = kernel_command(request.get("argv", []))
        if command is None:
            return refuse("not a kernel command this server can run")
        if len(fds) != 3:
            return refuse("stdin, stdout and stderr are needed")
        threads = thread_count()
        if threads != 1 or threading.active_count() != 1:
            return refuse(f"the server has {threads} threads; it forks only with one")
        gc.freeze()  # what the server made since warm_up, too
        pid = os.fork()
        if pid == 0:  # the child: never returns
            become_kernel(command, request, fds, close=self.own_fds(connection))
        for fd in fds:
            os.close(fd)
        pidfd = os.pidfd_open(pid)
        self.kernels[pid] = (pidfd, connection)
        self.selector.register(pidfd, selectors.EVENT_READ, ("exit", pid))
        self.selector.register(connection, selectors.EVENT_READ, ("connection", pid))
        connection.settimeout(10)
        try:
            protocol.send(connection, {"pid": pid})
        except OSError:
            self.hang_up(pid)

    def own_fds(self, connection: socket.socket) -> list[int]:
        """The descriptors a child must not keep: the server's socket, selector and the
        connections and pidfds of the other kernels (its own connection included)."""
        fds = [self.listener.fileno(), self.selector.fileno(), connection.fileno()]
        fds += [self.lock] if self.lock is not None else []
        fds += [self.owner_fd] if self.owner_fd is not None else []
        for pidfd, other in self.kernels.values():
            fds += [pidfd, other.fileno()]
        fds += [other.fileno() for other in self.pending]
        return fds

    def reap(self, pid: int) -> None:
        """The kernel ``pid`` exited: collect its status, tell its provisioner."""
        pidfd, connection = self.kernels.pop(pid)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        self.selector.unregister(pidfd)
        os.close(pidfd)
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(connection)
        with contextlib.suppress(OSError):
            protocol.send(connection, {"exit": code})
        connection.close()
        self.last_activity = time.monotonic()

    def hang_up(self, pid: int) -> None:
        """The provisioner of kernel ``pid`` closed its connection: the kernel dies with it
        (it is reaped when its pidfd says it exited)."""
        if pid not in self.kernels:
            return
        pidfd, connection = self.kernels[pid]
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(connection)

    def close(self) -> None:
        for pid in list(self.kernels):
            self.hang_up(pid)
        with contextlib.suppress(FileNotFoundError):
            (self.folder / "socket").unlink()
        with contextlib.suppress(FileNotFoundError):
            (self.folder / "token").unlink()
        if self.listener is not None:
            self.listener.close()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) not in (1, 2) or not argv[1:2] == [a for a in argv[1:2] if a.isdigit()]:
        print("usage: python -m course.forking.server FOLDER [OWNER_PID]", file=sys.stderr)
        return 2
    folder = protocol.private_folder(Path(argv[0]))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    lock = os.open(folder / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        log.info("a server for %s is already running", folder)
        return 0
    os.write(lock, f"{os.getpid()}\n".encode())
    idle = float(os.environ.get(protocol.IDLE_VAR) or protocol.DEFAULT_IDLE)
    server = Server(folder, idle)
    server.lock = lock
    if len(argv) == 2:
        server.watch_owner(int(argv[1]))
    started = time.perf_counter()
    for failure in warm_up():
        log.info("not preloaded: %s", failure)
    log.info("warm in %.1f s, %d thread(s)", time.perf_counter() - started, thread_count())

    def stop(signum: int, frame: Any) -> None:
        server.stopping = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        server.write_token()
        server.listen()
        server.serve()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
