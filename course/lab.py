"""``course lab``: JupyterLab on the learner notebooks, with nbgrader's Validate button.

Starts JupyterLab 4 on ``127.0.0.1`` with ``notebooks/`` as its root folder, waits until it
answers, and prints the address to open (with its access token). Ctrl-C stops it, and
the notebooks' kernels with it.

nbgrader's Validate button reads ``nbgrader_config.py`` from the folder the server was
started in (its handler adds ``os.getcwd()`` to the config path), so the server runs in
the course folder, the one holding ``nbgrader_config.py``: cell time limits and the rest
of the course settings apply when a learner validates.

``--teacher`` opens the whole course folder instead (``solutions/`` and ``notebooks/``),
with the formgrader, the "Create Assignment" panel and the Nbgrader menu switched on for
that run only (see :mod:`course.setup_lab`).

Example::

    $ course lab --port 8888
    ... JupyterLab's log ...
    JupyterLab is ready: learner view of /repo/notebooks
        http://127.0.0.1:8888/lab?token=9c1f...
    Stop it with Ctrl-C.

The token comes from ``JUPYTER_TOKEN`` when that is set, otherwise it is random.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import FrameType

from course import setup_lab
from course.config import CONFIG_FILE, QUIET_ENV, find_root, with_bin_first

HOST = "127.0.0.1"
LEARNER_FOLDER = "notebooks"
READY_TIMEOUT = 120.0  # seconds; JupyterLab usually answers long before


def find_course_dir(start: Path) -> Path:
    """The nearest folder at or above ``start`` holding ``nbgrader_config.py``.

    Falls back to the repository this package lives in, so ``course lab`` works from any
    folder of a checkout.

    >>> (find_course_dir(Path(__file__).parent) / CONFIG_FILE).is_file()
    True
    """
    try:
        return find_root(start)
    except FileNotFoundError:
        return find_root(Path(__file__).parent)


def lab_command(course_dir: Path, port: int, teacher: bool = False) -> list[str]:
    """The ``jupyter lab`` command line for a course folder.

    >>> lab_command(Path("/c"), 8888)[-1]
    '--ServerApp.root_dir=/c/notebooks'
    """
    root = course_dir if teacher else course_dir / LEARNER_FOLDER
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        f"--ServerApp.ip={HOST}",
        f"--ServerApp.port={port}",
        # Fail on a busy port instead of silently moving to another one.
        "--ServerApp.port_retries=0",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # Containers and CI run as root; Jupyter refuses that without this flag.
        command.append("--allow-root")
    command.append(f"--ServerApp.root_dir={root}")
    return command


def lab_environment(base: dict[str, str], token: str, overlay: Path | None) -> dict[str, str]:
    """Environment for the server and its kernels.

    The environment's ``bin`` goes first on ``PATH`` (the kernel spec runs ``python``,
    and nbgrader runs ``alembic``); TensorFlow is kept quiet in every kernel; matplotlib
    is left to choose the inline backend; a teacher ``overlay`` config folder is put in
    front of Jupyter's config path.
    """
    env = {**QUIET_ENV, **base}  # a TensorFlow setting of the teacher's own wins
    env["JUPYTER_TOKEN"] = token
    env["PATH"] = with_bin_first(base.get("PATH", ""))
    # Kernels pick JupyterLab's inline plots only when no backend is forced (a test run or
    # a shell may set MPLBACKEND=Agg, which would turn every chart into "<Figure ...>").
    env.pop("MPLBACKEND", None)
    if overlay is not None:
        env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(
            [str(overlay), *filter(None, [env.get("JUPYTER_CONFIG_PATH")])]
        )
    return env


def is_ready(port: int, token: str) -> bool:
    """Whether a Jupyter server answers its REST API on ``port`` with ``token``."""
    request = urllib.request.Request(
        f"http://{HOST}:{port}/api/status", headers={"Authorization": f"token {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def wait_until_ready(
    process: subprocess.Popen[bytes], port: int, token: str, timeout: float
) -> bool:
    """Poll the server until it answers (True), exits or ``timeout`` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        if is_ready(port, token):
            return True
        time.sleep(0.2)
    return False


def _ignore_sigint() -> None:
    # In the child: Ctrl-C reaches the whole terminal process group; the parent turns it
    # into one clean SIGTERM, so the server must not also act on it (see run()).
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=8888, help="port on 127.0.0.1 (default 8888)")
    parser.add_argument(
        "--teacher",
        action="store_true",
        help="open the whole course folder with the formgrader on (this run only)",
    )
    parser.add_argument(
        "--course-dir",
        type=Path,
        default=None,
        help="course folder holding nbgrader_config.py (default: found from the current folder)",
    )


def run(args: argparse.Namespace) -> int:
    course_dir = (args.course_dir or find_course_dir(Path.cwd())).resolve()
    if not (course_dir / CONFIG_FILE).is_file():
        print(f"course lab: {course_dir} has no {CONFIG_FILE}", file=sys.stderr)
        return 2
    if not args.teacher and not (course_dir / LEARNER_FOLDER).is_dir():
        print(f"course lab: {course_dir / LEARNER_FOLDER} does not exist", file=sys.stderr)
        return 2

    # Cheap and idempotent: a venv made before setup-lab existed gets it now.
    try:
        for line in setup_lab.configure_for_learners():
            print(f"course lab: set up for learners: {line}", flush=True)
    except OSError as error:  # a read-only environment: use it as it is
        print(
            f"course lab: could not write the learner setup ({error}); run `course setup-lab` "
            "where you can write",
            file=sys.stderr,
        )

    token = os.environ.get("JUPYTER_TOKEN") or secrets.token_hex(24)
    with tempfile.TemporaryDirectory(prefix="course-lab-teacher-") as overlay_dir:
        overlay = None
        if args.teacher:
            overlay = Path(overlay_dir)
            setup_lab.write_teacher_overlay(overlay)
        process = subprocess.Popen(
            lab_command(course_dir, args.port, args.teacher),
            cwd=course_dir,
            env=lab_environment(dict(os.environ), token, overlay),
            stdin=subprocess.DEVNULL,  # so the server installs no interactive Ctrl-C prompt
            preexec_fn=_ignore_sigint,
        )

        def stop(signum: int, frame: FrameType | None) -> None:
            if process.poll() is None:
                process.terminate()  # Jupyter stops cleanly on SIGTERM, kernels included

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        try:
            if wait_until_ready(process, args.port, token, READY_TIMEOUT):
                view = "teacher view of" if args.teacher else "learner view of"
                root = course_dir if args.teacher else course_dir / LEARNER_FOLDER
                print(
                    f"\nJupyterLab is ready: {view} {root}\n    "
                    f"http://{HOST}:{args.port}/lab?token={token}\nStop it with Ctrl-C.\n",
                    flush=True,
                )
            elif process.poll() is None:
                print(
                    f"course lab: no answer on port {args.port} after {READY_TIMEOUT:.0f} s",
                    file=sys.stderr,
                )
                process.terminate()
            else:
                print(
                    f"course lab: JupyterLab exited with code {process.returncode} (is port "
                    f"{args.port} in use? try --port)",
                    file=sys.stderr,
                )
            return process.wait()
        finally:
            if process.poll() is None:
                process.terminate()
                process.wait()
