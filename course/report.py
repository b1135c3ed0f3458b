"""``course report``: how a class did on each exercise, for the teacher.

Reads nbgrader's gradebook (``gradebook.db``) and the autograded notebooks of a course
directory and writes, per graded cell ("exercise"), how many learners got full points,
some points or none, and the most common failure messages: the first line of the error each
failed test cell shows (a ``CheckFailed``/``AssertionError`` message, usually), with numbers
that differ between learners blanked so that similar failures group. Results are grouped by
lesson and the idea it teaches (the lesson notebook's ``metadata["course"]["idea"]``:
:func:`course.lessons.lesson_idea`), so a teacher sees which idea the class has not
understood yet.

Writes three files into ``--out`` (default ``<course-dir>/reports``):

* ``report.md``: the report to read, with the chart;
* ``pass_rates.png``: the share of learners with full points per exercise, by lesson;
* ``report.json``: the same numbers, with the learners behind every failure message.

Example::

    $ nbgrader autograde 01_shared_layers
    $ course report 01_shared_layers 02_separate_weights
    $ course report --course-dir ~/teaching/keras --out /tmp/class-report   # every assignment

The steps are importable: :func:`read_class` (gradebook -> :class:`ClassReport`),
:func:`failure_message`, :func:`normalise`, :func:`to_json`, :func:`to_markdown`,
:func:`plot_pass_rates`, :func:`write_report`.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat
from matplotlib.figure import Figure
from nbformat import NotebookNode
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.coursedir import CourseDirectory

from course.cells import cells_by_id, exercises, grade_id_of, is_graded
from course.config import find_root, load_course_config
from course.lessons import lesson_idea

#: What a failure is called when the learner left the exercise's stub in place.
NOT_ATTEMPTED = "not attempted: the answer cell still raises NotImplementedError"
#: ... when nbgrader could not run the notebook at all (invalid JSON, a kernel that died).
NOT_AUTOGRADED = "not autograded: nbgrader could not run this notebook (see the autograde log)"
#: ... when a cell waits for the teacher (a manually graded answer).
MANUAL = "waiting for manual grading"
#: ... when a cell lost points without showing an error (partial credit, a score set by hand).
NO_ERROR = "no error shown (partial credit or a score set by hand)"

REPORT_MD, REPORT_JSON, CHART_PNG = "report.md", "report.json", "pass_rates.png"
OUTCOME_COLORS = {
    "passed": "#2a9d8f",
    "partly": "#e9c46a",
    "failed": "#e76f51",
    "ungraded": "#adb5bd",
}
OUTCOME_LABELS = {
    "passed": "full points",
    "partly": "some points",
    "failed": "no points",
    "ungraded": "not graded",
}


# ----------------------------------------------------------------------------- data


@dataclass
class FailureGroup:
    """Learners whose cell failed with the same (normalised) message."""

    message: str  # what the report shows: the message, numbers that differ blanked as "…"
    key: str  # normalise(message): what groups
    students: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.students)


@dataclass
class ExerciseResult:
    """One graded cell of an assignment and how the class did on it."""

    grade_id: str
    notebook: str
    title: str
    max_points: float
    passed: int = 0  # full points
    partly: int = 0  # some points
    failed: int = 0  # no points
    ungraded: int = 0  # no score yet (nbgrader could not run the notebook, or manual grading)
    failures: list[FailureGroup] = field(default_factory=list)  # most common first

    @property
    def graded(self) -> int:
        """Submissions counted for this cell."""
        return self.passed + self.partly + self.failed + self.ungraded

    @property
    def pass_rate(self) -> float:
        """Share of submissions with full points (0 when nobody submitted)."""
        return self.passed / self.graded if self.graded else 0.0


@dataclass
class LessonResult:
    """One assignment (a lesson) and its exercises, in notebook order."""

    name: str
    title: str
    idea: str
    students: int  # on the gradebook's roster
    not_submitted: list[str]
    exercises: list[ExerciseResult]

    @property
    def submitted(self) -> int:
        return self.students - len(self.not_submitted)

    @property
    def pass_rate(self) -> float:
        """Mean pass rate of the lesson's exercises."""
        return (
            sum(e.pass_rate for e in self.exercises) / len(self.exercises)
            if self.exercises
            else 0.0
        )


@dataclass
class ClassReport:
    course_id: str
    lessons: list[LessonResult]


# ----------------------------------------------------------------- failure messages

_HEX = re.compile(r"0x[0-9a-fA-F]+")
# A number on its own (not part of a name like tower_1 or a version like v1.2).
_NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w])")


def first_line(text: str) -> str:
    """The first non-blank line of ``text``, whitespace collapsed.

    >>> first_line("\\n  Layer 'a'  should be called 2 times.\\nHint: ...")
    "Layer 'a' should be called 2 times."
    """
    for line in text.splitlines():
        if line.strip():
            return " ".join(line.split())
    return ""


def normalise(message: str) -> str:
    """The grouping key of a failure message: whitespace collapsed, numbers and addresses blanked.

    >>> normalise("'news' should have 203 parameters, but it has 371 (+168).")
    "'news' should have # parameters, but it has # (#)."
    >>> normalise("'tower_1' is called 2 times")
    "'tower_1' is called # times"
    """
    return _NUMBER.sub("#", _HEX.sub("0x#", " ".join(message.split())))


def merge_messages(messages: list[str]) -> str:
    """One message for a group with one key: the numbers all members agree on are kept,
    the others shown as "…".

    >>> merge_messages(["'news' should have 203 parameters, but it has 371 (+168).",
    ...                 "'news' should have 203 parameters, but it has 99 (-104)."])
    "'news' should have 203 parameters, but it has … (…)."
    """
    splits = [_NUMBER.split(_HEX.sub("0x…", " ".join(m.split()))) for m in messages]
    numbers = [_NUMBER.findall(_HEX.sub("0x…", " ".join(m.split()))) for m in messages]
    texts = splits[0]
    merged = [texts[0]]
    for i, value in enumerate(numbers[0]):
        same = all(len(n) > i and n[i] == value for n in numbers)
        merged.append(value if same else "…")
        merged.append(texts[i + 1])
    return "".join(merged)


def _error(cell: NotebookNode) -> NotebookNode | None:
    return next((o for o in cell.get("outputs", []) if o.get("output_type") == "error"), None)


def _describe(error: NotebookNode) -> str:
    message = first_line(error.get("evalue", ""))
    if error.ename in ("CheckFailed", "AssertionError"):
        return message or f"{error.ename} (no message)"
    return f"{error.ename}: {message}" if message else error.ename


def failure_message(notebook: NotebookNode, grade_id: str) -> str:
    """Why graded cell ``grade_id`` of an autograded notebook lost points, in one line.

    The first line of the cell's error; when the exercise's answer cell (the solution cell
    before it) failed, that error instead, since the test then only fails as a consequence.
    A stub left in place reads as :data:`NOT_ATTEMPTED`.
    """
    cells = cells_by_id(notebook)
    if grade_id not in cells:
        return f"no cell {grade_id!r} in the autograded notebook"
    answer_ids = [sid for sid, tests in exercises(notebook).items() if grade_id in tests]
    answer_error = _error(cells[answer_ids[0]]) if answer_ids else None
    error = answer_error or _error(cells[grade_id])
    if error is None:
        return NO_ERROR
    if error.ename == "NotImplementedError" and not first_line(error.get("evalue", "")):
        return NOT_ATTEMPTED
    return f"the answer cell fails: {_describe(error)}" if answer_error else _describe(error)


def group_failures(messages: dict[str, str]) -> list[FailureGroup]:
    """student -> message, grouped by :func:`normalise`; most common first, then by message.

    >>> [(g.message, g.students) for g in group_failures({"a": "x is 1", "b": "x is 2", "c": "y"})]
    [('x is …', ['a', 'b']), ('y', ['c'])]
    """
    by_key: dict[str, list[str]] = defaultdict(list)
    for student in sorted(messages):
        by_key[normalise(messages[student])].append(student)
    groups = [
        FailureGroup(merge_messages([messages[s] for s in students]), key, students)
        for key, students in by_key.items()
    ]
    return sorted(groups, key=lambda g: (-g.count, g.message))


# ------------------------------------------------------------------------- gradebook


def _read(path: Path) -> NotebookNode | None:
    try:
        return nbformat.read(str(path), as_version=4)
    except (OSError, ValueError):  # missing, or not a notebook (nbformat's errors are ValueErrors)
        return None


def _heading(source: str) -> str | None:
    line = first_line(source)
    return line.lstrip("#").strip() if line.startswith("#") else None


def _titles(notebook: NotebookNode | None) -> tuple[str | None, dict[str, str], list[str]]:
    """(lesson title, grade_id -> exercise title, grade cells in notebook order)."""
    if notebook is None:
        return None, {}, []
    lesson_title, titles, order = None, {}, []
    heading = exercise = None
    for cell in notebook.cells:
        if cell.cell_type == "markdown" and (text := _heading(cell.source)):
            lesson_title = lesson_title or text
            heading = text
            if "exercise" in text.lower():
                exercise = text
        gid = grade_id_of(cell)
        if is_graded(cell) and gid:
            order.append(gid)
            title = exercise or heading or gid
            # "## 5. Exercise 1 — Count the calls (2 points)" -> "Exercise 1 — Count the calls"
            title = re.sub(r"^\d+\.\s*", "", title)
            titles[gid] = re.sub(r"\s*\(\d+(\.\d+)? points?\)\s*$", "", title)
    return lesson_title, titles, order


def read_class(course_dir: Path, assignments: list[str] | None = None) -> ClassReport:
    """Every (or the named) assignment of the course in ``course_dir``, from its gradebook
    and autograded notebooks.

    Raises FileNotFoundError without a gradebook, LookupError naming unknown assignments.
    """
    course_dir = Path(course_dir).resolve()
    config = load_course_config(course_dir)
    coursedir = CourseDirectory(config=config)
    coursedir.root = str(course_dir)
    if (
        coursedir.db_url.startswith("sqlite:///")
        and not Path(coursedir.db_url[len("sqlite:///") :]).is_file()
    ):
        raise FileNotFoundError(
            f"no gradebook at {coursedir.db_url[len('sqlite:///') :]}: run `nbgrader "
            "generate_assignment` and `nbgrader autograde` in the course directory first"
        )
    with Gradebook(coursedir.db_url, coursedir.course_id) as gradebook:
        known = [a.name for a in gradebook.assignments]
        names = list(assignments) if assignments else sorted(known)
        unknown = [n for n in names if n not in known]
        if unknown:
            raise LookupError(
                f"not in the gradebook: {', '.join(unknown)} (known: "
                f"{', '.join(sorted(known)) or 'none'})"
            )
        return ClassReport(
            coursedir.course_id, [_read_lesson(gradebook, coursedir, name) for name in names]
        )


def _outcome(
    grade, max_points: float, autograded: NotebookNode | None, grade_id: str
) -> tuple[str, str | None]:
    """("passed" | "partly" | "failed" | "ungraded", why points were lost or None) for one grade."""
    if grade.auto_score is None and grade.manual_score is None:
        return "ungraded", NOT_AUTOGRADED if autograded is None else MANUAL
    score = float(grade.score)
    if score >= max_points:
        return "passed", None
    message = NOT_AUTOGRADED if autograded is None else failure_message(autograded, grade_id)
    return ("partly" if score > 0 else "failed"), message


def _read_lesson(gradebook: Gradebook, coursedir: CourseDirectory, name: str) -> LessonResult:
    roster = sorted(s.id for s in gradebook.students)
    submitted = []
    for student in roster:
        try:
            gradebook.find_submission(name, student)
            submitted.append(student)
        except MissingEntry:
            pass
    lesson_title, idea = None, ""
    result: list[ExerciseResult] = []
    for notebook in sorted(gradebook.find_assignment(name).notebooks, key=lambda n: n.name):
        filename = f"{notebook.name}.ipynb"
        reference = next(
            (
                nb
                for step in (coursedir.release_directory, coursedir.source_directory)
                if (nb := _read(Path(coursedir.format_path(step, ".", name)) / filename))
                is not None
            ),
            None,
        )
        autograded = {
            s: _read(
                Path(coursedir.format_path(coursedir.autograded_directory, s, name)) / filename
            )
            for s in submitted
        }
        if reference is None:
            reference = next((nb for nb in autograded.values() if nb is not None), None)
        title, titles, order = _titles(reference)
        lesson_title = lesson_title or title
        idea = idea or lesson_idea(reference)
        cells = {cell.name: cell for cell in notebook.grade_cells}
        for grade_id in [g for g in order if g in cells] + sorted(set(cells) - set(order)):
            exercise = ExerciseResult(
                grade_id,
                notebook.name,
                titles.get(grade_id, grade_id),
                float(cells[grade_id].max_score),
            )
            messages = {}
            for student in submitted:
                grade = gradebook.find_grade(grade_id, notebook.name, name, student)
                outcome, message = _outcome(
                    grade, exercise.max_points, autograded[student], grade_id
                )
                setattr(exercise, outcome, getattr(exercise, outcome) + 1)
                if message:
                    messages[student] = message
            exercise.failures = group_failures(messages)
            result.append(exercise)
    return LessonResult(
        name=name,
        title=lesson_title or name,
        idea=idea,
        students=len(roster),
        not_submitted=[s for s in roster if s not in submitted],
        exercises=result,
    )


# --------------------------------------------------------------------------- writing


def to_json(report: ClassReport) -> dict:
    """The report's numbers as plain data (what report.json holds)."""
    lessons = []
    for lesson in report.lessons:
        data = asdict(lesson)
        data.update(submitted=lesson.submitted, pass_rate=round(lesson.pass_rate, 4))
        for data_ex, exercise in zip(data["exercises"], lesson.exercises, strict=True):
            data_ex.update(graded=exercise.graded, pass_rate=round(exercise.pass_rate, 4))
            for data_f, failure in zip(data_ex["failures"], exercise.failures, strict=True):
                data_f["count"] = failure.count
        lessons.append(data)
    return {"course_id": report.course_id, "lessons": lessons}


def _short_idea(lesson: LessonResult) -> str:
    return lesson.idea.split(":")[0] if lesson.idea else lesson.name


def _code(text: str) -> str:
    """Text as a Markdown code span (safe for any characters but newlines)."""
    ticks = "``" if "`" in text else "`"
    return f"{ticks} {text} {ticks}" if ticks == "``" else f"`{text}`"


def _percent(rate: float) -> str:
    return f"{100 * rate:.0f}%"


def to_markdown(report: ClassReport, chart: str | None = CHART_PNG, top: int = 5) -> str:
    """The report as Markdown: a summary by idea, the chart, then every lesson's exercises
    with their ``top`` most common failure messages."""
    lines = [f"# Class report: {report.course_id}", ""]
    lines += [
        "## Which ideas need another look",
        "",
        "Pass rate: the share of submitted notebooks with full points on an exercise, averaged "
        "over the lesson's exercises.",
        "",
        "| Lesson | Idea | Submitted | Pass rate | Weakest exercise |",
        "|---|---|---:|---:|---|",
    ]
    weakest_lesson = min(report.lessons, key=lambda result: result.pass_rate, default=None)
    for lesson in report.lessons:
        weakest = min(lesson.exercises, key=lambda e: e.pass_rate, default=None)
        weak = f"{weakest.title} ({_percent(weakest.pass_rate)})" if weakest else "-"
        flag = " ← lowest" if lesson is weakest_lesson and len(report.lessons) > 1 else ""
        lines.append(
            f"| {lesson.title} | {lesson.idea or '-'} | {lesson.submitted}/{lesson.students} | "
            f"{_percent(lesson.pass_rate)}{flag} | {weak} |"
        )
    if chart:
        lines += ["", f"![Share of learners with full points, per exercise]({chart})"]
    for lesson in report.lessons:
        lines += ["", f"## {lesson.title}", ""]
        if lesson.idea:
            lines += [f"Idea: {lesson.idea}.", ""]
        lines.append(
            f"Submitted: {lesson.submitted} of {lesson.students} learners"
            + (
                f" (not submitted: {', '.join(lesson.not_submitted)})."
                if lesson.not_submitted
                else "."
            )
        )
        lines += [
            "",
            "| Exercise | Cell | Points | Passed | Partly | Failed | Not graded | Pass rate |",
            "|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        for e in lesson.exercises:
            lines.append(
                f"| {e.title} | `{e.grade_id}` | {e.max_points:g} | {e.passed} | {e.partly} | "
                f"{e.failed} | {e.ungraded} | {_percent(e.pass_rate)} |"
            )
        for e in lesson.exercises:
            if not e.failures:
                continue
            lines += ["", f"### {e.title} (`{e.grade_id}`): why points were lost", ""]
            for failure in e.failures[:top]:
                learners = "learner" if failure.count == 1 else "learners"
                lines.append(f"- {failure.count} {learners}: {_code(failure.message)}")
            if len(e.failures) > top:
                rest = sum(f.count for f in e.failures[top:])
                lines.append(
                    f"- {rest} more, with {len(e.failures) - top} other messages (see "
                    f"{REPORT_JSON})"
                )
    return "\n".join(lines) + "\n"


def plot_pass_rates(report: ClassReport) -> Figure:
    """Horizontal stacked bars, one per exercise, grouped under a header per lesson and idea:
    the share of submissions that passed, passed partly, failed or could not be graded. The
    header of the lesson with the lowest mean pass rate is drawn in the "failed" colour."""
    rows: list[tuple[str, LessonResult | ExerciseResult]] = []
    for lesson in report.lessons:
        rows.append(("lesson", lesson))
        rows += [("exercise", e) for e in lesson.exercises]
    height = 1.2 + 0.38 * len(rows)
    fig = Figure(figsize=(12, height), layout="constrained")
    ax = fig.add_subplot()
    labelled: set[str] = set()
    for y, (kind, item) in enumerate(rows):
        if kind == "lesson":
            if y:
                ax.axhline(y - 0.5, color="#ced4da", linewidth=0.8)
            continue
        left = 0.0
        for outcome, color in OUTCOME_COLORS.items():
            share = getattr(item, outcome) / item.graded if item.graded else 0.0
            label = None if outcome in labelled else OUTCOME_LABELS[outcome]
            labelled.add(outcome)
            ax.barh(y, share, left=left, color=color, height=0.7, label=label)
            left += share
        ax.text(
            1.01,
            y,
            f"{item.passed}/{item.graded}",
            transform=ax.get_yaxis_transform(),
            va="center",
            fontsize=8,
        )
    labels = []
    for kind, item in rows:
        if kind == "lesson":
            labels.append(
                f"{item.title} · {_short_idea(item)} · {_percent(item.pass_rate)} on average"
            )
        else:
            title = item.title if len(item.title) <= 48 else item.title[:47] + "…"
            labels.append(f"{title}  [{item.grade_id}]")
    ax.set_yticks(range(len(rows)), labels, fontsize=8)
    weakest = (
        min(report.lessons, key=lambda lesson: lesson.pass_rate)
        if len(report.lessons) > 1
        else None
    )
    for (kind, item), tick in zip(rows, ax.get_yticklabels(), strict=False):
        if kind == "lesson":
            tick.set_fontweight("bold")
            tick.set_fontsize(9)
            if item is weakest:  # the idea the class has understood least
                tick.set_color(OUTCOME_COLORS["failed"])
    ax.tick_params(axis="y", length=0)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(lambda value, _: f"{100 * value:.0f}%")
    ax.set_xlabel("share of submitted notebooks (numbers: full points / submitted)")
    ax.set_title(f"{report.course_id}: who got full points, per exercise", loc="left", fontsize=11)
    fig.legend(loc="outside upper right", ncol=len(OUTCOME_COLORS), frameon=False, fontsize=8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig


def write_report(report: ClassReport, out: Path, top: int = 5) -> dict[str, Path]:
    """Write report.md, report.json and pass_rates.png into ``out`` (created); returns the paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"markdown": out / REPORT_MD, "json": out / REPORT_JSON, "chart": out / CHART_PNG}
    paths["json"].write_text(
        json.dumps(to_json(report), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    paths["markdown"].write_text(to_markdown(report, CHART_PNG, top=top), encoding="utf-8")
    plot_pass_rates(report).savefig(paths["chart"], dpi=150)
    return paths


# ------------------------------------------------------------------------------- CLI


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "assignments",
        nargs="*",
        metavar="ASSIGNMENT",
        help="assignments (lessons) to report on (default: every one in the gradebook)",
    )
    parser.add_argument(
        "--course-dir",
        type=Path,
        help="nbgrader course directory (default: nearest folder with nbgrader_config.py)",
    )
    parser.add_argument(
        "--out", type=Path, help="folder for the report (default: <course-dir>/reports)"
    )
    parser.add_argument(
        "--top", type=int, default=5, help="failure messages listed per exercise (default: 5)"
    )


def run(args: argparse.Namespace) -> int:
    try:
        course_dir = args.course_dir.resolve() if args.course_dir else find_root()
        report = read_class(course_dir, args.assignments)
    except (FileNotFoundError, LookupError) as error:
        print(f"course report: {error}", file=sys.stderr)
        return 1
    paths = write_report(report, args.out or course_dir / "reports", top=args.top)
    for lesson in report.lessons:
        weakest = min(lesson.exercises, key=lambda e: e.pass_rate, default=None)
        summary = (
            f"; weakest: {weakest.grade_id} ({_percent(weakest.pass_rate)})" if weakest else ""
        )
        print(
            f"{lesson.name}: {lesson.submitted}/{lesson.students} submitted, mean pass rate "
            f"{_percent(lesson.pass_rate)}{summary}"
        )
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0
