"""A sharing diagram in a learner's JupyterLab: lesson 01 runs down to its diagram of the
siamese model, the diagram shows as an SVG image (not as text) with the model's calls and
variables, and a screenshot of it is saved in ``artifacts/browser/``.

With ``LESSON_WITH_DIAGRAM = None`` the test writes a small notebook of its own instead.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from labpage import RUN_ALL_TIMEOUT
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

# The learner notebook (relative to notebooks/) whose first `sharing_diagram(` cell is run
# and looked at; None: the small notebook below.
# For example "01_shared_layers/01_shared_layers.ipynb".
LESSON_WITH_DIAGRAM: str | None = "01_shared_layers/01_shared_layers.ipynb"

DEMO = "diagram_demo/diagram_demo.ipynb"
DEMO_CELLS = [
    """import os
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"
import keras
from keras import layers
import helpers""",
    """keras.backend.clear_session()
left, right = keras.Input((64,), name="left"), keras.Input((64,), name="right")
encoder = layers.Dense(16, activation="relu", name="encoder")
difference = layers.Subtract(name="difference")([encoder(left), encoder(right)])
siamese = keras.Model([left, right], layers.Dense(1, activation="sigmoid", name="same")(difference),
                      name="siamese")
helpers.sharing_diagram(siamese)""",
]
# What the diagram of that model (and of lesson 01's siamese model) says, drawn as text in the SVG.
DEMO_TEXTS = ["siamese: 1,057 parameters", "encoder[1]", "encoder[2]", "encoder/kernel"]
MARKER = "sharing_diagram("
SVG_OUTPUT = '.jp-OutputArea-output[data-mime-type="image/svg+xml"]'


def diagram_notebook(notebooks: Path) -> str:
    """The notebook to open, relative to the lab's root (``notebooks``), written if needed."""
    if LESSON_WITH_DIAGRAM is not None:
        return LESSON_WITH_DIAGRAM
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
        "name": "python3",
    }
    notebook.cells = [nbformat.v4.new_code_cell(source) for source in DEMO_CELLS]
    (notebooks / DEMO).parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, notebooks / DEMO)
    return DEMO


def test_a_sharing_diagram_shows_as_svg_in_jupyterlab(open_lab, learner_lab) -> None:
    notebooks = learner_lab.course_dir / "notebooks"
    path = diagram_notebook(notebooks)
    cells = nbformat.read(notebooks / path, as_version=4).cells
    target = next(i for i, c in enumerate(cells) if c.cell_type == "code" and MARKER in c.source)

    lab = open_lab(learner_lab)
    lab.open_notebook(path, cells=len(cells))
    # Run every cell down to the diagram, as a learner reading the lesson would.
    lab.cells.nth(target).locator(".jp-InputPrompt").click()
    lab.page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
    lab.page.get_by_role("menuitem", name=re.compile(r"^Run All Above Selected Cell")).click()
    lab.wait_until_idle()
    lab.cells.nth(target).locator(".jp-InputPrompt").click()
    lab.page.keyboard.press("ControlOrMeta+Enter")
    code_prompts = [
        lab.cells.nth(i).locator(".jp-InputPrompt")
        for i, c in enumerate(cells[: target + 1])
        if c.cell_type == "code"
    ]
    for prompt in code_prompts:
        expect(prompt).to_have_text(re.compile(r"^\[\d+\]:"), timeout=RUN_ALL_TIMEOUT)
    lab.wait_until_idle()
    assert lab.error_outputs() == []

    output = lab.cells.nth(target).locator(SVG_OUTPUT)
    expect(output).to_have_count(1)
    image = output.locator("img")
    expect(image).to_have_count(1)
    image.scroll_into_view_if_needed()
    lab.page.wait_for_function(
        "node => node.complete && node.naturalWidth > 0", arg=image.element_handle(), timeout=30_000
    )
    source = image.get_attribute("src") or ""
    assert source.startswith("data:image/svg+xml"), source[:60]
    width = image.evaluate("node => node.getBoundingClientRect().width")
    assert width > 200, f"the diagram is drawn {width}px wide"
    svg = image.evaluate(
        """node => { const [head, data] = node.src.split(/,(.*)/s);
                    return head.endsWith(";base64") ? atob(data) : decodeURIComponent(data); }"""
    )
    for text in DEMO_TEXTS:
        assert text in svg, text
    page_shot = lab.shot("diagram")
    output.screenshot(path=str(page_shot.with_name(page_shot.stem + "-close-up.png")))
