"""``course lab``: where it starts JupyterLab, with what, and that it starts and stops cleanly.

The browser suite (tests/browser/) drives the same command in Chromium; these tests need
no browser.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from course import lab
from course.cli import main

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def course_dir(tmp_path: Path) -> Path:
    """A minimal course: nbgrader_config.py and an empty notebooks/ folder."""
    (tmp_path / "course" / "notebooks").mkdir(parents=True)
    (tmp_path / "course" / "nbgrader_config.py").write_text(
        (REPO / "nbgrader_config.py").read_text()
    )
    return tmp_path / "course"


def test_finds_the_course_folder_from_inside_it(course_dir: Path) -> None:
    inside = course_dir / "notebooks" / "01_lesson"
    inside.mkdir()
    assert lab.find_course_dir(inside) == course_dir


def test_falls_back_to_the_kit_checkout(tmp_path: Path) -> None:
    assert lab.find_course_dir(tmp_path) == REPO


def test_learners_get_notebooks_on_localhost_only(course_dir: Path) -> None:
    command = lab.lab_command(course_dir, 8123)
    assert command[:3] == [sys.executable, "-m", "jupyterlab"]
    assert "--ServerApp.ip=127.0.0.1" in command
    assert "--ServerApp.port=8123" in command
    assert "--ServerApp.port_retries=0" in command
    assert "--no-browser" in command
    assert f"--ServerApp.root_dir={course_dir / 'notebooks'}" in command


def test_teachers_get_the_whole_course(course_dir: Path) -> None:
    assert f"--ServerApp.root_dir={course_dir}" in lab.lab_command(course_dir, 8123, teacher=True)


def test_environment_has_token_venv_path_quiet_tensorflow_inline_plots_and_overlay(
    tmp_path: Path,
) -> None:
    base = {"PATH": "/usr/bin", "JUPYTER_CONFIG_PATH": "/x", "MPLBACKEND": "Agg"}
    env = lab.lab_environment(base, "t0k", tmp_path)
    assert "MPLBACKEND" not in env  # kernels must be free to use the inline backend
    assert env["JUPYTER_TOKEN"] == "t0k"
    assert env["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)
    assert env["TF_CPP_MIN_LOG_LEVEL"] == "3" and env["TF_ENABLE_ONEDNN_OPTS"] == "0"
    assert env["JUPYTER_CONFIG_PATH"].split(os.pathsep) == [str(tmp_path), "/x"]
    assert "JUPYTER_CONFIG_PATH" not in lab.lab_environment({"PATH": ""}, "t", None)


def test_refuses_a_folder_without_notebooks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "nbgrader_config.py").write_text("")
    assert main(["lab", "--course-dir", str(tmp_path)]) == 2
    assert "notebooks does not exist" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(course_dir: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = dict(
        os.environ, JUPYTER_TOKEN="test-token-123", JUPYTER_RUNTIME_DIR=str(log.parent / "rt")
    )
    with log.open("w") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "course.cli",
                "lab",
                "--port",
                str(port),
                "--course-dir",
                str(course_dir),
            ],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def test_starts_prints_the_url_and_stops_cleanly(course_dir: Path, tmp_path: Path) -> None:
    port, log = _free_port(), tmp_path / "lab.log"
    process = _start(course_dir, port, log)
    try:
        url = f"http://127.0.0.1:{port}/lab?token=test-token-123"
        deadline = time.monotonic() + 120
        while url not in log.read_text():  # the banner comes once the server answers
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.status == 200
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=10)
        assert denied.value.code == 403  # the token is required
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0
    text = log.read_text()
    assert f"Serving notebooks from local directory: {course_dir / 'notebooks'}" in text
    assert "JupyterLab is ready: learner view of" in text
    assert not [
        line for line in text.splitlines() if re.match(r"\[E |.*\bERROR\b|Traceback", line)
    ], text


def test_a_busy_port_is_reported_not_silently_changed(course_dir: Path, tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        process = _start(course_dir, port, tmp_path / "lab.log")
        code = process.wait(120)
    assert code != 0
    assert f"is port {port} in use? try --port" in (tmp_path / "lab.log").read_text()
