"""A learner's HTML and scripts never run in the teacher's formgrader page or in the
feedback page (course/grading/steps/safe_html.py), in a real browser; plots, the sharing diagram
and harmless HTML still show.

A learner of lesson 00 adds, after the last test, cells that display a ``<script>``, an
``<img onerror>``, a ``javascript:`` link, an SVG with a script and an ``onload``, a
``Javascript`` output and a widget, a markdown cell with raw HTML, a matplotlib plot and a
sharing diagram. Every script would count itself in ``window.__learner_ran`` and set the
page title. The notebook is autograded by ``nbgrader autograde`` with the kit's config in
the course ``course lab --teacher`` serves, then ``nbgrader generate_feedback`` writes the
feedback page; the formgrader's page for the submission and the feedback page are opened.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from labpage import ARTIFACTS
from nbgrader.api import Gradebook
from playwright.sync_api import Page, expect

from course.config import load_course_config, tool_environment
from course.corpus import Submission, full_marks, place_submissions
from course.lessons import find_lessons

pytestmark = pytest.mark.browser

LESSON = "00_layers_calls_variables"
STUDENT = "hostile-html"
#: What every learner script does if it runs.
RAN = "window.__learner_ran = (window.__learner_ran || 0) + 1; document.title = 'learner'"
HOSTILE_CELLS = [
    "from IPython.display import HTML, SVG, Javascript, display\n"
    f'display(HTML("<script>{RAN}</script><b>learner bold</b>"))',
    f'display(HTML(\'<img src="missing.png" onerror="{RAN}">\'))',
    f"display(HTML('<a href=\"javascript:{RAN}\">learner link</a>'))",
    'display(SVG(\'<svg xmlns="http://www.w3.org/2000/svg" width="20" height="20" '
    f'onload="{RAN}"><script>{RAN}</script><circle cx="10" cy="10" r="5"/></svg>\'))',
    f'display(Javascript("{RAN}"))',
    "import ipywidgets\nipywidgets.IntSlider(description='learner widget')",
    "import matplotlib.pyplot as plt\nplt.figure(figsize=(3, 2))\nplt.plot([1, 3, 2])\n"
    "plt.title('learner plot')\nplt.show()",
    "import keras\nimport helpers\n"
    "tiny = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name='tiny_dense')])\n"
    "helpers.sharing_diagram(tiny)",
]
HOSTILE_MARKDOWN = (
    f'My notes <img src="missing.png" onerror="{RAN}"> <script>{RAN}</script> **learner markdown**'
)


def _add_hostile_cells(nb: nbformat.NotebookNode) -> None:
    nb.cells.append(nbformat.v4.new_markdown_cell(HOSTILE_MARKDOWN))
    nb.cells.extend(nbformat.v4.new_code_cell(source) for source in HOSTILE_CELLS)


def _nbgrader(*args: str, cwd: Path) -> None:
    bin_dir = Path(sys.executable).parent
    run = subprocess.run(
        [str(bin_dir / "nbgrader"), *args],
        cwd=cwd,
        env=tool_environment(),
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.fixture(scope="module")
def graded(teacher_lab):
    """The hostile notebook autograded (and its feedback written) in the teacher lab's course;
    the formgrader's URL for it and the feedback file."""
    course = teacher_lab.course_dir
    lesson = next(item for item in find_lessons(course) if item.name == LESSON)
    _nbgrader("generate_assignment", LESSON, "--force", cwd=course)
    place_submissions(
        course,
        LESSON,
        [Submission(STUDENT, expected=full_marks(), transform=_add_hostile_cells)],
        lesson.release_notebook,
        lesson.source_notebook,
    )
    _nbgrader("autograde", LESSON, "--student", STUDENT, cwd=course)
    _nbgrader("generate_feedback", LESSON, "--student", STUDENT, cwd=course)
    course_id = load_course_config(course).CourseDirectory.course_id
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id) as gradebook:
        submission = gradebook.find_submission_notebook(LESSON, LESSON, STUDENT)
        url = f"{teacher_lab.base_url}/formgrader/submissions/{submission.id}/?token="
    feedback = course / "feedback" / STUDENT / LESSON / f"{LESSON}.html"
    return url + teacher_lab.token, feedback


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    yield context.new_page()
    context.close()


def _no_learner_script_ran_and_plots_show(page: Page) -> None:
    expect(page.get_by_text("learner bold").first).to_be_visible(timeout=60_000)
    expect(page.get_by_text("learner markdown").first).to_be_visible()
    page.get_by_text("learner link").first.click()  # a javascript: link would run now
    images = {
        "plot": page.locator('img[src^="data:image/png"]').last,
        "diagram": page.locator('img[src^="data:image/svg+xml"]').last,
    }
    for name, image in images.items():
        image.scroll_into_view_if_needed()
        expect(image, name).to_be_visible()
        width = image.evaluate("img => img.complete ? img.naturalWidth : 0")
        assert width > 0, f"the {name} does not render"
    assert page.evaluate("window.__learner_ran") is None, "a learner script ran"
    assert page.title() != "learner"


def test_formgrader_page_runs_no_learner_script(graded, page):
    url, _ = graded
    page.goto(url)
    _no_learner_script_ran_and_plots_show(page)
    page.screenshot(path=str(ARTIFACTS / "formgrader-hostile-html.png"))


def test_feedback_page_runs_no_learner_script(graded, page):
    _, feedback = graded
    page.goto(feedback.as_uri())
    _no_learner_script_ran_and_plots_show(page)
    page.screenshot(path=str(ARTIFACTS / "feedback-hostile-html.png"))
