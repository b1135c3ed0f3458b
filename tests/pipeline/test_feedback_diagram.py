"""A sharing diagram in a notebook survives nbgrader: autograde keeps its SVG output and
``generate_feedback`` puts it in the learner's feedback page, next to a failed check whose
message points to the diagram (``hint=helpers.DIAGRAM_HINT``).

The course is a tiny one built here (one notebook, two graded cells), with the kit's
``nbgrader_config.py``, so nbgrader's own command line runs exactly as for a lesson.
"""

from __future__ import annotations

import base64
import html
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import nbformat
import pytest

from course.config import tool_environment
from helpers import DIAGRAM_HINT

pytestmark = pytest.mark.pipeline

REPO = Path(__file__).resolve().parents[2]
ASSIGNMENT = "diagram_demo"
STUDENT = "learner"

SETUP = """import os
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"
import keras
from keras import layers
import helpers"""

MODEL = """keras.backend.clear_session()
left, right = keras.Input((4,), name="left"), keras.Input((4,), name="right")
encoder = layers.Dense(3, name="encoder")
joined = layers.Concatenate(name="pair")([encoder(left), encoder(right)])
siamese = keras.Model([left, right], layers.Dense(1, name="head")(joined), name="siamese")
helpers.sharing_diagram(siamese)"""

PASSING = 'helpers.assert_calls(siamese, "encoder", 2)'
# Wrong on purpose: the encoder IS shared, so this check fails and shows its hint.
FAILING = 'helpers.assert_not_shared(siamese, "encoder", "encoder", hint=helpers.DIAGRAM_HINT)'


def _graded(source: str, grade_id: str) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {
        "grade": True,
        "grade_id": grade_id,
        "locked": True,
        "points": 1,
        "schema_version": 3,
        "solution": False,
    }
    return cell


def demo_notebook() -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
        "name": "python3",
    }
    notebook.cells = [
        nbformat.v4.new_code_cell(SETUP),
        nbformat.v4.new_code_cell(MODEL),
        _graded(PASSING, "test_calls"),
        _graded(FAILING, "test_not_shared"),
    ]
    return notebook


def nbgrader(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    bin_dir = Path(sys.executable).parent
    env = tool_environment()
    result = subprocess.run(
        [str(bin_dir / "nbgrader"), *args], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, (
        f"nbgrader {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    )
    return result


@pytest.fixture(scope="module")
def feedback(tmp_path_factory: pytest.TempPathFactory) -> str:
    course = tmp_path_factory.mktemp("diagram-course")
    shutil.copy(REPO / "nbgrader_config.py", course / "nbgrader_config.py")
    source = course / "solutions" / ASSIGNMENT
    source.mkdir(parents=True)
    nbformat.write(demo_notebook(), source / f"{ASSIGNMENT}.ipynb")
    nbgrader("generate_assignment", ASSIGNMENT, cwd=course)
    submitted = course / "submitted" / STUDENT / ASSIGNMENT
    submitted.mkdir(parents=True)
    shutil.copy(course / "notebooks" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", submitted)
    nbgrader("autograde", ASSIGNMENT, cwd=course)
    autograded = nbformat.read(
        course / "autograded" / STUDENT / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", 4
    )
    svg_outputs = [o for o in autograded.cells[1].outputs if "image/svg+xml" in o.get("data", {})]
    assert len(svg_outputs) == 1, "autograde did not keep the diagram's SVG output"
    nbgrader("generate_feedback", ASSIGNMENT, cwd=course)
    return (course / "feedback" / STUDENT / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text(
        encoding="utf-8"
    )


def svg_images(page: str) -> list[str]:
    """Every SVG image of an HTML page: inline ``<svg>`` elements and ``<img>`` data URIs
    (nbgrader's feedback template embeds SVG outputs as base64 ``<img>``)."""
    encoded = re.findall(r'<img\b[^>]*\bsrc="data:image/svg\+xml;base64,([A-Za-z0-9+/=\s]+)"', page)
    decoded = [base64.b64decode(data).decode("utf-8") for data in encoded]
    return decoded + re.findall(r"<svg\b.*?</svg>", page, flags=re.S)


def test_svg_images_reads_data_uris_and_inline_svg():
    page = '<img alt="" src="data:image/svg+xml;base64,PHN2Zy8+"/> <p>x</p> <svg id="a"></svg>'
    assert svg_images(page) == ["<svg/>", '<svg id="a"></svg>']
    assert svg_images('<img src="data:image/png;base64,iVBORw0K"/>') == []


def test_the_feedback_page_shows_the_diagram_as_svg(feedback):
    images = svg_images(feedback)
    diagrams = [svg for svg in images if 'id="sharing-diagram"' in svg]
    assert len(diagrams) == 1, (
        f"{len(images)} SVG images, {len(diagrams)} sharing diagram(s) in the feedback"
    )
    root = ET.fromstring(diagrams[0].encode("utf-8"))
    texts = {"".join(t.itertext()).strip() for t in root.iter("{http://www.w3.org/2000/svg}text")}
    assert {
        "siamese: 22 parameters",
        "encoder[1]",
        "encoder[2]",
        "encoder/kernel",
        "(4, 3) · 12 params",
        "shared: one layer, several calls (2)",
    } <= texts
    ids = {element.get("id") for element in root.iter()}
    assert {"sharing-edge-variable-0-call-0", "sharing-edge-variable-0-call-1"} <= ids


def test_the_failed_check_in_the_feedback_points_to_the_diagram(feedback):
    text = html.unescape(re.sub(r"<[^>]+>", "", feedback))
    assert "CheckFailed" in text
    assert "Hint: " + DIAGRAM_HINT in " ".join(text.split())
    assert re.search(r"Score:\s*1(\.0)?\s*/\s*2", text), "expected 1 of 2 points"
