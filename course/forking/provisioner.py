"""``ForkingProvisioner``: jupyter_client's extension point for how a kernel starts.

Selected by a kernel spec's ``metadata.kernel_provisioner.provisioner_name`` =
``course-forking-provisioner`` (the kit's ``python3`` spec, written by ``course setup-lab``),
found through the ``jupyter_client.kernel_provisioners`` entry point in pyproject.toml. So
JupyterLab, ``nbgrader autograde``, ``course grade``, nbval and the tests all start their
kernels through it, restarts included, with no code of their own.

It is jupyter_client's :class:`LocalProvisioner` (ports, connection file, environment,
as usual) except for the launch: a kernel command a forked child can run
(:func:`course.forking.child.kernel_command`) is sent to the warm fork server of the
kernel's environment (:mod:`course.forking.client`), which forks it. The kernel is then
not this process's child: ``poll``/``wait`` read its exit status from the server over the
kernel's own connection, ``send_signal``/``kill``/``terminate`` signal its process group
(the child starts a new session, as ``launch_kernel`` does).

A *grading* kernel of plain ``nbgrader autograde`` (``NBGRADER_EXECUTION=autograde`` in its
environment) is also isolated first, as ``course grade``'s are (:mod:`course.isolation`:
a box, or the Landlock fallback, said once in the log), and forked from a warm parent this
process started for itself (:func:`course.forking.client.own_servers_folder`). Kernels of
JupyterLab, nbval and the tests are not boxed.

Anything else starts the usual way (``LocalProvisioner.launch_kernel``): forking switched
off (``KIT_FORK_KERNELS=0`` in this process's environment or in the kernel's), another
command or interpreter, output to a pipe, no ``os.fork`` (not Linux), a server that cannot
start, died, or refuses. The first time in a process that this happens for a reason worth
knowing, one warning says so
(``logging.getLogger("course.forking")``).

Example (what a kernel spec says)::

    {"argv": ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
     "metadata": {"kernel_provisioner": {"provisioner_name": "course-forking-provisioner"}}}
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from typing import Any

from jupyter_client.connect import KernelConnectionInfo
from jupyter_client.provisioning import LocalProvisioner

from course.forking import protocol
from course.forking.child import kernel_command
from course.forking.client import (
    ForkedKernel,
    ForkUnavailable,
    own_servers_folder,
    request_fork,
    server_folder_for,
)
from course.isolation.kernels import (
    DEFAULT_MEMORY,
    KIT_PACKAGES,
    IsolatedKernel,
    KernelRoom,
    describe,
    is_isolated,
    isolate_kernel,
    kit_packages,
)
from course.isolation.landlock import course_rules

#: The entry point name (pyproject.toml) a kernel spec selects this provisioner with.
NAME = "course-forking-provisioner"
_PORTS = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")
log = logging.getLogger("course.forking")
_warned = False


_said: set[str] = set()


def _say_once(line: str) -> None:
    """Log ``line`` (how grading kernels are isolated, when it is less than a box) once."""
    if line not in _said:
        _said.add(line)
        log.warning("Grading kernels: %s", line)


def warn_once(reason: str) -> None:
    """Say once per process that kernels start the usual way, and why."""
    global _warned
    if not _warned:
        _warned = True
        log.warning("Starting kernels the usual way (not forked from a warm parent): %s", reason)


def _platform_reason() -> str | None:
    if not sys.platform.startswith("linux"):
        return f"forking kernels needs Linux (this is {sys.platform})"
    for name in ("fork", "pidfd_open", "setsid"):
        if not hasattr(os, name):
            return f"os.{name} is not available"
    if not hasattr(socket, "send_fds"):
        return "socket.send_fds is not available"
    return None


def _fd(stream: Any, default: int) -> int | None:
    """The file descriptor a Popen-style stdio argument means (None: not passable)."""
    if stream is None:
        return default
    if stream == subprocess.DEVNULL:
        return os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    if isinstance(stream, int):
        return stream if stream >= 0 else None
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):
        return None


class ForkingProvisioner(LocalProvisioner):
    """A :class:`LocalProvisioner` whose kernels are forked from a warm parent when
    possible (see the module docstring)."""

    #: The forked kernel (None: not forked, or started the usual way).
    forked: ForkedKernel | None = None
    #: Why the last kernel was started the usual way (None: it was forked).
    fallback_reason: str | None = None
    #: The isolation of a grading kernel of plain ``nbgrader autograde`` (None: not one).
    isolated: IsolatedKernel | None = None
    _home: str | None = None

    @property
    def has_process(self) -> bool:
        if self.forked is not None:
            return True
        return super().has_process

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> KernelConnectionInfo:
        self.forked = None
        cmd = self._isolate(cmd, kwargs)
        try:
            self.forked = await self._fork(cmd, kwargs)
        except ForkUnavailable as why:
            self.fallback_reason = str(why)
            if why.warn:
                warn_once(str(why))
            return await super().launch_kernel(cmd, **kwargs)
        self.fallback_reason = None
        self.pid = self.pgid = self.forked.pid
        self.cwd = kwargs.get("cwd") or pathlib.Path.cwd()
        return self.connection_info

    def _isolate(self, cmd: list[str], kwargs: dict[str, Any]) -> list[str]:
        """A grading kernel of plain ``nbgrader autograde`` (``NBGRADER_EXECUTION`` is
        ``autograde`` in its environment) gets the same box as ``course grade``'s
        (:mod:`course.isolation`): its working folder (the learner's ``autograded/``
        folder) and a HOME of its own as scratch copies, its connection file, the kit's
        packages; 2 GiB of memory. Anything else, and a kernel ``course grade`` isolated
        already, starts as asked."""
        env = kwargs.get("env") or dict(os.environ)
        if env.get("NBGRADER_EXECUTION") != "autograde" or is_isolated(cmd):
            return cmd
        self._release()
        cwd = pathlib.Path(os.path.abspath(kwargs.get("cwd") or os.getcwd()))
        home = pathlib.Path(tempfile.mkdtemp(prefix="course-grade-home-"))
        self._home = str(home)
        try:
            from course.config import find_root

            fallback = course_rules(
                find_root(cwd),
                KIT_PACKAGES,
                also_hide=[protocol.base_folder(), own_servers_folder()],
            )
            fallback = dataclasses.replace(fallback, writable=(cwd, home))
        except FileNotFoundError:
            fallback = None
        info = self.connection_info
        ports = [int(info[name]) for name in _PORTS if info.get(name)]
        room = KernelRoom(
            scratch=(cwd, home),
            read_only=(pathlib.Path(self.parent.connection_file), *kit_packages()),
            fallback=fallback,
            subreaper=True,
        )
        self.isolated = isolate_kernel(cmd, room, bind_ports=ports, python=cmd[0])
        if not self.isolated.boxed:
            _say_once(describe(DEFAULT_MEMORY))
        env = dict(env, HOME=str(home))
        if self.isolated.boxed:
            env.update(TMPDIR="/tmp", TEMP="/tmp", TMP="/tmp")
        kwargs["env"] = env
        return self.isolated.command

    def _release(self) -> None:
        if self.isolated is not None:
            self.isolated.cleanup()
            self.isolated = None
        if self._home is not None:
            shutil.rmtree(self._home, ignore_errors=True)
            self._home = None

    async def _fork(self, cmd: list[str], kwargs: dict[str, Any]) -> ForkedKernel:
        if not protocol.enabled() or not protocol.enabled(kwargs.get("env") or {}):
            raise ForkUnavailable(f"{protocol.ENABLE_VAR}=0", warn=False)
        reason = _platform_reason()
        if reason:
            raise ForkUnavailable(reason)
        if kernel_command(cmd) is None:
            raise ForkUnavailable(f"not a kernel command of this Python: {cmd[:3]}", warn=False)
        # Popen resolves a relative folder against the caller's; the warm parent runs in
        # a folder of its own (``jupyter nbconvert --execute lesson/nb.ipynb`` passes "lesson").
        cwd = os.path.abspath(kwargs.get("cwd") or os.getcwd())
        stdio = [_fd(kwargs.get(name), fd) for fd, name in enumerate(("stdin", "stdout", "stderr"))]
        if kwargs.get("stdin") is None:
            stdio[0] = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        if None in stdio:
            raise ForkUnavailable("the kernel's output goes to a pipe", warn=False)
        env = dict(kwargs.get("env") or os.environ)
        if not kwargs.get("independent"):
            env["JPY_PARENT_PID"] = str(os.getpid())
        # A grading kernel forks from a warm parent this process started for its own use.
        base = own_servers_folder() if self.isolated is not None else None
        try:
            folder = server_folder_for(cmd[0], env, base)
            return await request_fork(folder, cmd, env, cwd, stdio, python=cmd[0])
        except OSError as error:
            raise ForkUnavailable(f"the fork server cannot be used: {error}") from None
        finally:
            for fd, name in zip(stdio, ("stdin", "stdout", "stderr"), strict=True):
                if fd is not None and fd > 2 and kwargs.get(name) in (None, subprocess.DEVNULL):
                    os.close(fd)

    async def poll(self) -> int | None:
        if self.forked is None:
            return await super().poll()
        return self.forked.poll()

    async def wait(self) -> int | None:
        if self.forked is None:
            return await super().wait()
        while (code := self.forked.poll()) is None:
            await asyncio.sleep(0.05)
        self.forked = None  # has_process is False from now on
        return code

    async def send_signal(self, signum: int) -> None:
        if self.forked is None:
            return await super().send_signal(signum)
        if self.forked.poll() is not None:
            return None  # exited: its pid may belong to someone else by now
        try:
            os.killpg(self.forked.pid, signum)
        except OSError:
            os.kill(self.forked.pid, signum)
        return None

    async def kill(self, restart: bool = False) -> None:
        if self.forked is None:
            return await super().kill(restart)
        try:
            await self.send_signal(signal.SIGKILL)
        except ProcessLookupError:
            pass
        return None

    async def terminate(self, restart: bool = False) -> None:
        if self.forked is None:
            return await super().terminate(restart)
        try:
            await self.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass
        return None

    async def cleanup(self, restart: bool = False) -> None:
        if self.forked is not None and self.forked.poll() is not None:
            self.forked = None
        self._release()
        await super().cleanup(restart)

    async def get_provisioner_info(self) -> dict:
        info = await super().get_provisioner_info()
        info["forked"] = self.forked is not None
        return info

    async def load_provisioner_info(self, provisioner_info: dict) -> None:
        await super().load_provisioner_info(provisioner_info)
        if provisioner_info.get("forked") and self.pid:
            # Another process forked it: its exit is judged by the process itself.
            self.forked = ForkedKernel(int(self.pid), None)
