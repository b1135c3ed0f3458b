"""Learner HTML is made inert in graded notebooks (course/grading/steps/safe_html.py), and the
lesson's own rich outputs stay as they are. The real browser test is
tests/browser/test_browser_formgrader_safe.py."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path

import matplotlib
import nbformat
import pytest

from course.grading.steps.safe_html import SanitizeLearnerHTML, clean_html, safe_svg

matplotlib.use("agg")

REPO = Path(__file__).resolve().parents[4]
SVG_NS = 'xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"'

#: Output data (kind -> value) that would run code in a browser, each with what must be gone.
HOSTILE_OUTPUTS = {
    "script": ({"text/html": "<b>hi</b><script>document.title='owned'</script>"}, "<script"),
    "img onerror": ({"text/html": '<img src="x" onerror="document.title=1">'}, "onerror"),
    "javascript link": ({"text/html": '<a href="javascript:steal()">grades</a>'}, "javascript:"),
    "inline svg": ({"text/html": "<svg onload='steal()'><script>steal()</script></svg>"}, "steal"),
    "iframe": ({"text/html": '<iframe src="/api/contents"></iframe>'}, "<iframe"),
    "data link": ({"text/html": '<a href="data:text/html,<script>x()</script>">x</a>'}, "data:"),
    "svg with script": (
        {"image/svg+xml": f"<svg {SVG_NS}><script>steal()</script></svg>"},
        "steal",
    ),
    "svg onload": ({"image/svg+xml": f'<svg {SVG_NS} onload="steal()"/>'}, "steal"),
    "svg link out": (
        {"image/svg+xml": f'<svg {SVG_NS}><a xlink:href="javascript:x()"><text/></a></svg>'},
        "javascript:",
    ),
    "javascript output": ({"application/javascript": "steal()"}, "steal"),
    "widget view": (
        {"application/vnd.jupyter.widget-view+json": {"model_id": "x", "version_major": 2}},
        "model_id",
    ),
    "markdown output": ({"text/markdown": "hi <img src=x onerror=steal()>"}, "onerror"),
    "markdown link": ({"text/markdown": "[grades](javascript:steal())"}, "javascript:"),
    "latex link": ({"text/latex": r"$\href{javascript:steal()}{x}$"}, "\\href"),
    "unknown kind": ({"text/vnd.evil+html": "<script>steal()</script>"}, "steal"),
}


def _display(data: dict) -> nbformat.NotebookNode:
    return nbformat.v4.new_output("display_data", data=copy.deepcopy(data))


def _sanitized(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb, _ = SanitizeLearnerHTML().preprocess(nb, {})
    return nb


@pytest.mark.parametrize("name", sorted(HOSTILE_OUTPUTS))
def test_hostile_output_is_made_inert(name: str) -> None:
    data, gone = HOSTILE_OUTPUTS[name]
    nb = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell("display(...)", outputs=[_display(data)])]
    )
    output = _sanitized(nb).cells[0].outputs[0]
    assert gone not in json.dumps(output.data)
    assert output.data, "an output left with nothing says so"


def test_learner_markdown_and_raw_cells_are_made_inert() -> None:
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell(
                "My answer <img src=x onerror=steal()> and `<layer>/<name>`\n\n"
                "[a link](javascript:steal()) [another](JaVaScRiPt&colon;steal()) "
                "$\\href{javascript:steal()}{math}$\n\n"
                "<details><summary>Why</summary>because</details>"
            ),
            nbformat.v4.new_raw_cell(
                "<script>steal()</script>", metadata={"raw_mimetype": "text/html"}
            ),
        ],
        metadata={"widgets": {"application/vnd.jupyter.widget-state+json": {"state": {}}}},
    )
    nb = _sanitized(nb)
    markdown, raw = nb.cells
    assert "onerror" not in markdown.source and "steal" not in raw.source
    assert "<a>a link</a>" in markdown.source and "href=" not in markdown.source.lower()
    assert "\\href" not in markdown.source, "MathJax's links are text"
    assert "<code>&lt;layer&gt;/&lt;name&gt;</code>" in markdown.source  # code spans kept
    assert "<details><summary>Why</summary>" in markdown.source
    assert "widgets" not in nb.metadata


@pytest.mark.parametrize("lesson", ["00_layers_calls_variables", "01_shared_layers"])
def test_lesson_notebook_outputs_and_markdown_stay(lesson: str) -> None:
    """The instructor notebook, as graded: every read-only markdown cell unchanged, every
    SVG (the sharing diagram), PNG and text output unchanged, Keras's summaries still
    coloured."""
    path = REPO / "solutions" / lesson / f"{lesson}.ipynb"
    before = nbformat.read(path, as_version=4)
    after = _sanitized(copy.deepcopy(before))
    svgs = 0
    for old, new in zip(before.cells, after.cells, strict=True):
        if old.cell_type == "markdown" and old.metadata.get("nbgrader", {}).get("locked"):
            assert new.source == old.source
        for old_out, new_out in zip(old.get("outputs", []), new.get("outputs", []), strict=True):
            for kind in ("image/svg+xml", "image/png", "text/plain"):
                assert old_out.get("data", {}).get(kind) == new_out.get("data", {}).get(kind)
            svgs += "image/svg+xml" in old_out.get("data", {})
            if "text/html" in old_out.get("data", {}) and "color:" in old_out.data["text/html"]:
                assert "color:" in new_out.data["text/html"]
    assert lesson == "00_layers_calls_variables" or svgs, "the sharing diagram is an SVG output"


def test_matplotlib_plots_stay() -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([1, 2, 3], label="loss")
    ax.legend()
    svg, png = io.StringIO(), io.BytesIO()
    fig.savefig(svg, format="svg")
    fig.savefig(png, format="png")
    plt.close(fig)
    assert safe_svg(svg.getvalue())
    html = '<table border="1" class="dataframe"><thead><tr style="text-align: right;"><th>a</th>'
    assert clean_html(html + "</tr></thead></table>") == html + "</tr></thead></table>"


def test_the_kit_config_sanitizes_graded_notebooks_and_every_page() -> None:
    from nbconvert.exporters import HTMLExporter
    from nbgrader.converters import Autograde, GenerateFeedback

    from course.config import load_course_config

    config = load_course_config(REPO)
    assert Autograde(config=config).autograde_preprocessors[-1] is SanitizeLearnerHTML
    exporter = HTMLExporter(config=config)  # the formgrader's, and generate_feedback's
    assert any(isinstance(p, SanitizeLearnerHTML) for p in exporter._preprocessors)
    assert GenerateFeedback(config=config).exporter_class is HTMLExporter
