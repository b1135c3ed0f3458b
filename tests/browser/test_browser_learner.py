"""A learner's JupyterLab, as ``make lab`` starts it, in a real browser.

Every learner notebook opens cleanly (all cells, no error dialog, no console error, the
Validate button there and the teacher tools not), and nbgrader's Validate button tells
the learner "Success!" for a right answer and shows the failing test for a wrong one.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
LEARNER_NOTEBOOKS = sorted(
    path
    for path in (REPO / "notebooks").glob("*/*.ipynb")
    if ".ipynb_checkpoints" not in path.parts
)

# The lesson whose Validate button is exercised, and the classic mistake in it: two
# separate Dense layers where one shared encoder was asked for (grade_id of the solution
# cell -> what the learner typed). Every other solution cell gets the instructor's answer.
VALIDATE_LESSON = "01_shared_layers"
WRONG_ANSWER = {
    "ex1_shared_model": """keras.backend.clear_session()
a = keras.Input((64,), name="a")
b = keras.Input((64,), name="b")
code_a = layers.Dense(32, activation="relu", name="shared_encoder")(a)
code_b = layers.Dense(32, activation="relu", name="shared_encoder_b")(b)
pair = layers.Concatenate(name="pair")([code_a, code_b])
shared_model = keras.Model([a, b], layers.Dense(1, activation="sigmoid", name="head")(pair))
""",
}
# What the failing check tells the learner about that mistake.
WRONG_ANSWER_MESSAGES = [
    "Layer 'shared_encoder' should be called 2 times",
    "but your model calls it 1 time",
    "Create the layer once and call that same object on every input.",
]

SOLUTION_MARKERS = re.compile(r"^\s*### (BEGIN|END) SOLUTION\s*$")


def _relative(notebook: Path) -> str:
    return notebook.relative_to(REPO / "notebooks").as_posix()


def solution_answers(lesson: str) -> dict[str, str]:
    """grade_id -> code a learner who got it right would type, from the instructor notebook.

    >>> solution_answers("no_such_lesson")
    Traceback (most recent call last):
    ...
    FileNotFoundError: ...
    """
    path = REPO / "solutions" / lesson / f"{lesson}.ipynb"
    if not path.is_file():
        raise FileNotFoundError(path)
    answers = {}
    for cell in nbformat.read(path, as_version=4).cells:
        grading = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and grading.get("solution"):
            lines = [line for line in cell.source.splitlines() if not SOLUTION_MARKERS.match(line)]
            answers[grading["grade_id"]] = "\n".join(lines)
    return answers


def solution_cell_indices(notebook: Path) -> dict[str, int]:
    """grade_id -> position of each code solution cell in a learner notebook."""
    cells = nbformat.read(notebook, as_version=4).cells
    return {
        cell.metadata["nbgrader"]["grade_id"]: index
        for index, cell in enumerate(cells)
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution")
    }


@pytest.mark.parametrize("notebook", LEARNER_NOTEBOOKS, ids=lambda path: path.parent.name)
def test_learner_notebook_opens_cleanly(open_lab, learner_lab, notebook: Path) -> None:
    cells = nbformat.read(notebook, as_version=4).cells
    lab = open_lab(learner_lab)
    lab.open_notebook(_relative(notebook), cells=len(cells))
    lab.shot("opened")

    expect(lab.dialogs).to_have_count(0)
    markdown = sum(cell.cell_type == "markdown" for cell in cells)
    expect(lab.panel.locator(".jp-MarkdownCell .jp-RenderedMarkdown")).to_have_count(markdown)
    first_code = next((c for c in cells if c.cell_type == "code" and c.source.strip()), None)
    if first_code is not None:
        first_line = first_code.source.strip().splitlines()[0]
        expect(lab.panel.locator(".jp-CodeCell .cm-content").first).to_contain_text(first_line)

    # The learner's nbgrader: Validate, and none of the teacher tools.
    expect(lab.validate_button).to_be_visible()
    expect(lab.page.locator(".lm-MenuBar-item", has_text="Nbgrader")).to_have_count(0)
    expect(lab.page.locator("#nbgrader-create_assignemnt")).to_have_count(0)  # sic, nbgrader's id

    lab.cells.last.scroll_into_view_if_needed()
    lab.shot("last-cells")
    assert lab.console_errors() == []


def _open_with_answers(open_lab, learner_lab, wrong: dict[str, str]):
    notebook = REPO / "notebooks" / VALIDATE_LESSON / f"{VALIDATE_LESSON}.ipynb"
    if not notebook.is_file():
        pytest.skip(f"lesson {VALIDATE_LESSON} is not in notebooks/ yet")
    answers = {**solution_answers(VALIDATE_LESSON), **wrong}
    indices = solution_cell_indices(notebook)
    assert indices, f"{notebook} has no solution cells to answer"
    assert set(wrong) <= set(indices), f"unknown grade_id in {sorted(wrong)}"

    lab = open_lab(learner_lab)
    lab.open_notebook(_relative(notebook), cells=len(nbformat.read(notebook, as_version=4).cells))
    lab.shot("opened")
    for grade_id, index in indices.items():
        lab.set_cell_source(index, answers[grade_id])
    lab.shot("answers-typed")
    return lab


def test_validate_says_success_for_right_answers(open_lab, learner_lab) -> None:
    lab = _open_with_answers(open_lab, learner_lab, wrong={})
    title, body = lab.validate()
    lab.shot("validation-result")

    assert title == "Validation Results"
    expect(body).to_have_class(re.compile(r"\bvalidation-success\b"))
    expect(body).to_have_text("Success! Your notebook passes all the tests.")
    lab.close_dialog()
    expect(lab.validate_button).to_have_text("Validate")  # ready for another try


def test_validate_shows_the_failing_test_for_a_wrong_answer(open_lab, learner_lab) -> None:
    lab = _open_with_answers(open_lab, learner_lab, wrong=WRONG_ANSWER)
    title, body = lab.validate()
    lab.shot("validation-result")

    assert title == "Validation Results"
    expect(body).to_have_class(re.compile(r"\bvalidation-failed\b"))
    expect(body).to_contain_text("The following cell failed:")
    for message in WRONG_ANSWER_MESSAGES:
        expect(body).to_contain_text(message)
    body.locator("pre").last.evaluate(
        "node => { node.scrollTop = node.scrollHeight; node.scrollIntoView({block: 'end'}); }"
    )
    lab.shot("validation-result-message")  # the end of the error: the check's message
    expect(body).not_to_contain_text("Success!")
    lab.close_dialog()
