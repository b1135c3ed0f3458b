"""The Jupyter server extension behind "Grade my work" in JupyterLab.

A ``jupyter_server`` :class:`~jupyter_server.extension.application.ExtensionApp`, enabled
for learners working alone by ``course setup-lab`` (role ``local``; off for hub learners
and the grader, see docs/jupyterhub.md). Its endpoints, under the server's base URL:

- ``GET  course-selfgrade/api/status``: the learner's progress
  (:func:`course.selfgrade.summary.progress_summary`) and whether a grade is running;
- ``POST course-selfgrade/api/grade`` with ``{"lessons": ["01_shared_layers"]}`` (empty or
  absent: every lesson): starts ``course check`` in a PROCESS of its own, so the server's
  event loop never waits for the kernels (202; 409 while one runs; 403 where self-grading
  is off);
- ``GET  course-selfgrade/feedback/<lesson>``: the lesson's feedback page (hidden tests
  left out, :mod:`course.selfgrade.feedback`).

When it loads, it writes ``progress.ipynb`` (the progress page, :mod:`course.selfgrade.page`)
into the server's root folder if that file is missing. When the server stops, a running
grade is stopped with it.

Example (what the progress page does)::

    POST http://127.0.0.1:8888/course-selfgrade/api/grade   {"lessons": ["01_shared_layers"]}
    GET  http://127.0.0.1:8888/course-selfgrade/api/status  -> {"running": true, ...}
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import nbformat
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.extension.application import ExtensionApp
from tornado import web

from course.config import find_root
from course.lessons import find_lessons
from course.selfgrade.records import StateDir, is_running
from course.selfgrade.summary import progress_summary

NAME = "course-selfgrade"
PROGRESS_NOTEBOOK = "progress.ipynb"
STOP_TIMEOUT = 30.0  # seconds a grade gets to stop its kernels when the server stops
#: Roles (``course setup-lab --role``) whose learners may not grade themselves: a hub
#: learner has no solutions/, and hidden tests must stay the teacher's.
REFUSED_ROLES = {
    "hub-learner": "on a JupyterHub your teacher grades your work",
    "grader": "this is the grader's server: grade a class with `course grade`",
}


class SelfGrader:
    """The course a server's learner grades, and the one grading process it may run."""

    def __init__(self, root_dir: Path, role: str | None = None) -> None:
        self.course_dir: Path | None = None
        self.reason = ""
        self.process: subprocess.Popen[bytes] | None = None
        if role in REFUSED_ROLES:
            self.reason = f"grading your own work is off here: {REFUSED_ROLES[role]}"
            return
        try:
            course_dir = find_root(root_dir)
        except FileNotFoundError:
            self.reason = f"no course (nbgrader_config.py) at or above {root_dir}"
            return
        if not find_lessons(course_dir):
            self.reason = (
                "grading your own work needs the kit's solutions/ folder (with the hidden "
                "checks), which this environment does not have"
            )
            return
        self.course_dir = course_dir

    @property
    def running(self) -> bool:
        if self.process is not None and self.process.poll() is None:
            return True
        return self.course_dir is not None and is_running(StateDir.of(self.course_dir))

    def start(self, lessons: list[str]) -> None:
        """Start ``course check`` on ``lessons`` in the background (its output in
        ``progress/check-output.log``)."""
        assert self.course_dir is not None
        state = StateDir.of(self.course_dir)
        state.path.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "course.cli", "check", *lessons]
        with open(state.path / "check-output.log", "wb") as output:
            self.process = subprocess.Popen(
                [*command, "--course-dir", str(self.course_dir)],
                cwd=self.course_dir,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopped as one
            )

    def stop(self) -> None:
        """Stop a running grade (SIGTERM: ``course check`` stops its kernels), then reap it."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def write_progress_notebook(self, root_dir: Path) -> Path | None:
        """``progress.ipynb`` in ``root_dir`` unless one is there; None if none was written."""
        path = root_dir / PROGRESS_NOTEBOOK
        if self.course_dir is None or path.exists():
            return None
        nbformat.write(progress_notebook(), path)
        return path


def configured_role() -> str | None:
    """The role ``course setup-lab`` recorded in the first folder of Jupyter's config path
    that has one (the user's, then the environment's, then the system's)."""
    from jupyter_core.paths import jupyter_config_path

    from course.setup_lab import recorded_role

    for folder in jupyter_config_path():
        role = recorded_role(Path(folder))
        if role is not None:
            return role
    return None


def progress_notebook() -> nbformat.NotebookNode:
    """The progress page: a title and one cell that shows it (the code lives in the kit).

    >>> progress_notebook().cells[1].source
    'from course.selfgrade.page import show_progress\\n\\nshow_progress()'
    """
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [
        nbformat.v4.new_markdown_cell(
            "# Your progress\n\n"
            "Run the cell below (Shift+Enter). **Grade my work** grades a lesson with the "
            "teacher's grader and its hidden checks, on a copy of your notebook (save it "
            "first: the grader reads the file). The table shows your points per lesson and "
            "exercise, the message of every check that failed, and a link to each lesson's "
            'feedback. See docs/learners.md, "Grade my work".'
        ),
        nbformat.v4.new_code_cell(
            "from course.selfgrade.page import show_progress\n\nshow_progress()"
        ),
    ]
    return nb


class _Handler(APIHandler):
    @property
    def grader(self) -> SelfGrader:
        return self.settings["course_selfgrade"]

    def refuse_unless_available(self) -> None:
        if self.grader.course_dir is None:
            raise web.HTTPError(403, reason=self.grader.reason)


class StatusHandler(_Handler):
    @web.authenticated
    def get(self) -> None:
        if self.grader.course_dir is None:
            self.finish(json.dumps({"available": False, "reason": self.grader.reason}))
            return
        summary = progress_summary(self.grader.course_dir)
        summary["running"] = self.grader.running
        self.finish(json.dumps({"available": True, "reason": "", **summary}))


class GradeHandler(_Handler):
    @web.authenticated
    def post(self) -> None:
        self.refuse_unless_available()
        body = self.get_json_body() or {}
        lessons = body.get("lessons") or []
        known = {lesson.name for lesson in find_lessons(self.grader.course_dir)}
        if not isinstance(lessons, list) or not set(lessons) <= known:
            raise web.HTTPError(
                400, reason=f"lessons must be a list of: {', '.join(sorted(known))}"
            )
        if self.grader.running:
            raise web.HTTPError(409, reason="a grade of your work is already running")
        self.grader.start(lessons)
        self.set_status(202)
        self.finish(json.dumps({"started": lessons or sorted(known)}))


class FeedbackHandler(JupyterHandler):
    @web.authenticated
    def get(self, lesson: str) -> None:
        grader: SelfGrader = self.settings["course_selfgrade"]
        if grader.course_dir is None:
            raise web.HTTPError(403, reason=grader.reason)
        known = {item.name for item in find_lessons(grader.course_dir)}
        page = StateDir.of(grader.course_dir).feedback_dir / f"{lesson}.html"
        if lesson not in known or not page.is_file():
            raise web.HTTPError(404, reason=f"no feedback for {lesson!r} yet: grade it first")
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(page.read_bytes())


class SelfGradeApp(ExtensionApp):
    """Grade my work: the endpoints above, and the progress notebook."""

    name = NAME

    def initialize_settings(self) -> None:
        root = Path(self.serverapp.root_dir)
        grader = SelfGrader(root, configured_role())
        self.settings["course_selfgrade"] = grader
        if grader.course_dir is None:
            self.log.info("course-selfgrade: off (%s)", grader.reason)
            return
        written = grader.write_progress_notebook(root)
        if written is not None:
            self.log.info("course-selfgrade: wrote the progress page %s", written)

    def initialize_handlers(self) -> None:
        self.handlers.extend(
            [
                (f"/{NAME}/api/status", StatusHandler),
                (f"/{NAME}/api/grade", GradeHandler),
                (f"/{NAME}/feedback/([A-Za-z0-9_.-]+)", FeedbackHandler),
            ]
        )

    async def stop_extension(self) -> None:
        grader = self.settings.get("course_selfgrade")
        if grader is not None:
            grader.stop()


def _jupyter_server_extension_points() -> list[dict]:
    return [{"module": "course.selfgrade.server", "app": SelfGradeApp}]
