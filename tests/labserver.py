"""``course lab`` as the tests start it: the kit's own command on a course folder, with a
free port on 127.0.0.1, a random token and Jupyter folders of its own (the user's
``~/.jupyter`` plays no part); stopped with SIGTERM afterwards and checked to leave no
process behind. The ``course_lab`` fixture (tests/conftest.py) hands it to the browser
suite and to the "Grade my work" server tests.

Example::

    with running_course_lab(course, tmp_path) as lab:
        code, body = lab.request("GET", "api/status")   # 200
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

from course.lab import is_ready

#: Seconds ``course lab`` may take to answer, and to stop with its kernels: bounds for a
#: busy machine, not expectations.
READY_TIMEOUT = 120.0
STOP_TIMEOUT = 60.0


@dataclass
class LabServer:
    """A running ``course lab``: where it listens, its token, its course folder and log."""

    name: str
    port: int
    token: str
    course_dir: Path
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def lab_url(self, path: str) -> str:
        """URL opening ``path`` (relative to the server's root) in a fresh workspace."""
        return f"{self.base_url}/lab/tree/{path}?reset&token={self.token}"

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
        """``(status, body)`` of an HTTP request to the server, with its token."""
        request = urllib.request.Request(
            f"{self.base_url}/{path}",
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_course_lab(
    course: Path,
    workdir: Path,
    *,
    name: str = "lab",
    teacher: bool = False,
    config_dir: Path | None = None,
    log_path: Path | None = None,
) -> Iterator[LabServer]:
    """``course lab [--teacher]`` on ``course``, run in ``workdir`` (its Jupyter config,
    data and runtime folders go there; ``config_dir`` replaces the config folder), its
    output in ``log_path`` (default ``workdir/lab.log``). Fails the test when the server
    exits or does not answer; after the block, when a process it started is left or it
    exits with an error."""
    server = LabServer(
        name=name,
        port=free_port(),
        token=secrets.token_hex(16),
        course_dir=course,
        log_path=log_path or workdir / "lab.log",
    )
    env = {
        **os.environ,
        "JUPYTER_TOKEN": server.token,
        "JUPYTER_CONFIG_DIR": str(config_dir or workdir / "jupyter-config"),
        "JUPYTER_DATA_DIR": str(workdir / "jupyter-data"),
        "JUPYTER_RUNTIME_DIR": str(workdir / "jupyter-runtime"),
        "IPYTHONDIR": str(workdir / "ipython"),
    }
    command = [sys.executable, "-m", "course.cli", "lab", "--port", str(server.port)]
    command += ["--course-dir", str(course)] + (["--teacher"] if teacher else [])
    with server.log_path.open("w", encoding="utf-8") as log:
        process = subprocess.Popen(
            command,
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    alive: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while not is_ready(server.port, server.token):
            assert process.poll() is None, (
                f"course lab exited with {process.returncode}:\n{server.log_tail()}"
            )
            assert time.monotonic() < deadline, (
                f"course lab did not answer within {READY_TIMEOUT:.0f} s:\n{server.log_tail()}"
            )
            time.sleep(0.1)  # poll interval, not a wait for something to happen
        yield server
    finally:
        alive = _stop(process)
    assert not alive, f"processes left running after course lab stopped: {alive}"
    assert process.returncode == 0, f"course lab exited with {process.returncode}"


def _stop(process: subprocess.Popen) -> list[psutil.Process]:
    """SIGTERM to ``course lab``; the processes it started that outlive it (killed)."""
    descendants: list[psutil.Process] = []
    if process.poll() is None:
        descendants = psutil.Process(process.pid).children(recursive=True)
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    _, alive = psutil.wait_procs(descendants, timeout=STOP_TIMEOUT)
    for leftover in alive:
        leftover.kill()
    return alive
