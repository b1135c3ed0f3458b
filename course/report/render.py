"""Writing a class report: ``report.md`` with its chart, ``pass_rates.png``, ``report.json``.

Example::

    write_report(read_class(course_dir), course_dir / "reports")
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from matplotlib.figure import Figure

from course.report.results import ClassReport, ExerciseResult, LessonResult

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


def percent(rate: float) -> str:
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
        weak = f"{weakest.title} ({percent(weakest.pass_rate)})" if weakest else "-"
        flag = " ← lowest" if lesson is weakest_lesson and len(report.lessons) > 1 else ""
        lines.append(
            f"| {lesson.title} | {lesson.idea or '-'} | {lesson.submitted}/{lesson.students} | "
            f"{percent(lesson.pass_rate)}{flag} | {weak} |"
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
                f"{e.failed} | {e.ungraded} | {percent(e.pass_rate)} |"
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
                f"{item.title} · {_short_idea(item)} · {percent(item.pass_rate)} on average"
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
