"""The progress page in JupyterLab: ``show_progress()`` in ``progress.ipynb``.

ipywidgets in the learner's kernel, talking to the server extension
(:mod:`course.selfgrade.server`) of the JupyterLab the notebook runs in, over the server's
REST API with its token (found in Jupyter's runtime folder, like ``jupyter server list``):

- a **Grade** button per lesson and **Grade all lessons**; a progress bar while the grade
  runs (in the server's background process: this kernel only asks every second);
- a table of lessons: points earned / possible, when each was graded, a plain note when
  the notebook changed since, and a link to the lesson's feedback page;
- per lesson, the points of each exercise and the message of every check that failed;
- a matplotlib chart of points per lesson.

The page redraws when a grade ends. Example (the one cell of ``progress.ipynb``)::

    from course.selfgrade.page import show_progress
    show_progress()
"""

from __future__ import annotations

import html
import io
import json
import os
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import ipywidgets as widgets

POLL_SECONDS = 1.0
MAX_FAILURES = 30  # status requests in a row that fail before the page gives up


class ServerClient:
    """The REST API of the Jupyter server whose root folder holds this kernel's folder."""

    def __init__(self, info: dict[str, Any]) -> None:
        self.url = info["url"].rstrip("/") + "/"
        self.base_url = info.get("base_url", "/")
        self.token = info.get("token", "")

    @classmethod
    def find(cls, folder: Path | None = None) -> ServerClient | None:
        """The running server serving ``folder`` (default: the current one), if any."""
        from jupyter_server.serverapp import list_running_servers

        folder = Path(folder or os.getcwd()).resolve()
        servers = [
            info
            for info in list_running_servers()
            if folder == Path(info["root_dir"]) or Path(info["root_dir"]) in folder.parents
        ]
        if not servers:
            return None
        return cls(max(servers, key=lambda info: len(info["root_dir"])))

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        """(HTTP status, JSON body) of ``method path`` under ``course-selfgrade/``."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"{self.url}course-selfgrade/{path}",
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            return error.code, {"reason": error.reason}
        except (OSError, ValueError) as error:  # the server stopped, or answered nonsense
            return 0, {"reason": str(error)}

    def feedback_url(self, lesson: str) -> str:
        return f"{self.base_url.rstrip('/')}/course-selfgrade/feedback/{lesson}"


def _points(points: float, possible: float) -> str:
    return f"{points:g} / {possible:g}"


def _when(iso: str) -> str:
    return iso.replace("T", " ")[:16] + " UTC" if iso else ""


COLUMNS = ["Lesson", "Points", "Graded", "Feedback", "Note"]
LINK_STYLE = "color: var(--jp-content-link-color, #1976d2); text-decoration: underline"


def lesson_rows(summary: dict, client: ServerClient) -> dict[str, list[str]]:
    """lesson -> its row of the table as HTML cells (title, points, when graded, feedback
    link, note), and ``"total"`` -> the course total's row."""
    rows = {}
    for item in summary["lessons"]:
        lesson, possible = item["lesson"], item["possible"]
        link = note = ""
        if "graded_at" not in item:
            points, when = f"– / {possible:g}", "not graded yet"
        elif item.get("error"):
            points, when = f"– / {possible:g}", _when(item["graded_at"])
            note = f"not graded: {html.escape(item['error'])}"
        else:
            points, when = _points(item["score"], possible), _when(item["graded_at"])
            if item["changed"]:
                note = "your notebook changed since it was graded: grade it again"
            if item.get("feedback"):
                url = client.feedback_url(lesson)
                link = f'<a href="{url}" target="_blank" style="{LINK_STYLE}">feedback</a>'
        rows[lesson] = [html.escape(item["title"]), points, when, link, note]
    total = summary["total"]
    rows["total"] = ["<b>Course total</b>", f"<b>{_points(total['score'], total['possible'])}</b>"]
    rows["total"] += ["", "", ""]
    return rows


def exercises_html(summary: dict) -> str:
    """Per graded lesson: each exercise's points, then every failed check's message."""
    parts = []
    for item in summary["lessons"]:
        if "exercises" not in item:
            continue
        rows = "".join(
            f"<tr><td>{html.escape(e['exercise'])}</td>"
            f'<td class="points">{_points(e["points"], e["possible"])}</td></tr>'
            for e in item["exercises"]
        )
        failed = "".join(
            f'<div class="course-progress-failed"><b>{html.escape(check["exercise"])}</b> '
            f"({html.escape(check['grade_id'])}):<pre>{html.escape(check['message'])}</pre></div>"
            for check in item["failed"]
        )
        notes = "".join(f"<p><i>Note:</i> {html.escape(note)}</p>" for note in item["notes"])
        parts.append(
            f'<details data-lesson="{item["lesson"]}" open><summary><b>'
            f"{html.escape(item['title'])}</b></summary><table>{rows}</table>{failed}{notes}"
            "</details>"
        )
    return "".join(parts) or "<p>Grade a lesson to see your points per exercise here.</p>"


def points_chart(summary: dict) -> bytes:
    """A bar chart of points earned and possible per lesson, as PNG bytes."""
    from matplotlib.figure import Figure

    lessons = summary["lessons"]
    names = [item["lesson"].split("_")[0] for item in lessons]
    possible = [item["possible"] for item in lessons]
    earned = [item.get("score", 0.0) if not item.get("error") else 0.0 for item in lessons]
    figure = Figure(figsize=(7, 2.8), dpi=100)
    axes = figure.subplots()
    positions = range(len(names))  # numbered lessons ("00") are labels, not numbers
    axes.bar(positions, possible, color="none", edgecolor="#888", label="possible")
    axes.bar(positions, earned, color="#2a7", label="earned")
    axes.set_xticks(positions, names)
    axes.set_xlabel("lesson")
    axes.set_ylabel("points")
    total = summary["total"]
    axes.set_title(f"Points per lesson: {total['score']:g} of {total['possible']:g}")
    axes.legend(loc="upper right", frameon=False)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


class ProgressPage:
    """The widgets of the page and the thread that follows a running grade."""

    def __init__(self, client: ServerClient) -> None:
        self.client = client
        self.message = widgets.HTML()
        self.bar = widgets.IntProgress(min=0, max=1, layout=widgets.Layout(display="none"))
        self.all_button = widgets.Button(description="Grade all lessons", button_style="primary")
        self.all_button.on_click(lambda _: self.grade([]))
        self.buttons: dict[str, widgets.Button] = {}
        self.table = widgets.GridBox(
            layout=widgets.Layout(
                grid_template_columns="minmax(220px, 3fr) 70px 170px 80px minmax(120px, 2fr) 150px",
                grid_gap="2px 12px",
            )
        )
        self.table.add_class("course-progress-table")
        self.chart = widgets.Image(format="png", layout=widgets.Layout(max_width="700px"))
        self.exercises = widgets.HTML()
        self.box = widgets.VBox(
            [
                self.table,
                self.bar,
                self.message,
                self.chart,
                self.exercises,
            ]
        )
        self.box.add_class("course-progress")
        self._following: threading.Thread | None = None

    def refresh(self) -> dict:
        """Read the progress from the server and redraw."""
        status, summary = self.client.request("GET", "api/status")
        if status != 200 or not summary.get("available"):
            reason = summary.get("reason") or f"HTTP {status}"
            self.message.value = f"<p>Grading your own work is not available here: {reason}</p>"
            self._set_buttons(False)
            return summary
        self.table.children = self._table_cells(summary)
        self.exercises.value = exercises_html(summary)
        self.chart.value = points_chart(summary)
        self._show_run(summary)
        return summary

    def _table_cells(self, summary: dict) -> list[widgets.Widget]:
        cells: list[widgets.Widget] = [widgets.HTML(f"<b>{name}</b>") for name in COLUMNS]
        cells.append(widgets.HTML(""))
        for lesson, row in lesson_rows(summary, self.client).items():
            for column, text in zip(COLUMNS, row, strict=True):
                cell = widgets.HTML(text)
                cell.add_class(f"course-{column.lower()}-{lesson}")
                cells.append(cell)
            if lesson == "total":
                cells.append(self.all_button)
                continue
            if lesson not in self.buttons:
                self.buttons[lesson] = widgets.Button(
                    description="Grade my work", tooltip=f"grade {lesson} with the hidden checks"
                )
                self.buttons[lesson].add_class(f"course-grade-{lesson}")
                self.buttons[lesson].on_click(lambda _, name=lesson: self.grade([name]))
            cells.append(self.buttons[lesson])
        return cells

    def grade(self, lessons: list[str]) -> None:
        """Ask the server to grade ``lessons`` (all when empty) and follow the run."""
        status, answer = self.client.request("POST", "api/grade", {"lessons": lessons})
        if status != 202:
            self.message.value = f"<p>Could not start: {html.escape(answer.get('reason', ''))}</p>"
            return
        self.message.value = f"<p>Grading {', '.join(answer['started'])} ...</p>"
        self._set_buttons(False)
        self.follow()

    def follow(self) -> None:
        """Poll the server in a thread until the grade ends, then redraw."""
        if self._following is not None and self._following.is_alive():
            return
        self._following = threading.Thread(target=self._follow, daemon=True)
        self._following.start()

    def _follow(self) -> None:
        started, failures = time.monotonic(), 0
        while True:
            time.sleep(POLL_SECONDS)
            status, summary = self.client.request("GET", "api/status")
            if status != 200:
                failures += 1
                if failures >= MAX_FAILURES:
                    self.message.value = "<p>JupyterLab stopped answering: run the cell again.</p>"
                    return
                continue
            failures = 0
            if not summary.get("running"):
                self.refresh()
                return
            self._show_run(summary, time.monotonic() - started)

    def _show_run(self, summary: dict, seconds: float | None = None) -> None:
        run = summary.get("run") or {}
        if summary.get("running"):
            self.bar.layout.display = "flex"
            self.bar.max = max(1, len(run.get("lessons", [])))
            self.bar.value = len(run.get("done", []))
            clock = f" ({seconds:.0f} s)" if seconds is not None else ""
            self.message.value = (
                f"<p>Grading {', '.join(run.get('lessons', []))}: {self.bar.value} of "
                f"{self.bar.max} done{clock}. JupyterLab stays usable meanwhile.</p>"
            )
            self._set_buttons(False)
            return
        self.bar.layout.display = "none"
        self._set_buttons(True)
        if run.get("state") == "failed":
            self.message.value = f"<p>The last grade failed: {html.escape(run['message'])}</p>"
        elif run.get("finished_at"):
            problems = f" ({html.escape(run['message'])})" if run.get("message") else ""
            self.message.value = (
                f"<p>Last graded {_when(run['finished_at'])}: "
                f"{', '.join(run.get('lessons', []))}{problems}.</p>"
            )
        else:
            self.message.value = (
                "<p>Nothing graded yet: save a lesson, then press <b>Grade my work</b> on its "
                "row.</p>"
            )

    def _set_buttons(self, enabled: bool) -> None:
        for button in (self.all_button, *self.buttons.values()):
            button.disabled = not enabled


def show_progress() -> widgets.VBox | widgets.HTML:
    """The progress page of the JupyterLab this kernel belongs to (shown by the cell)."""
    client = ServerClient.find()
    if client is None:
        return widgets.HTML(
            "<p>No JupyterLab serving this folder was found: open this notebook in the "
            "JupyterLab that <code>make lab</code> starts.</p>"
        )
    page = ProgressPage(client)
    summary = page.refresh()
    if summary.get("running"):
        page.follow()
    return page.box
