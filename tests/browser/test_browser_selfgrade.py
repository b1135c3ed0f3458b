"""Grade my work, in a real JupyterLab: a learner answers two exercises of lesson 01 (one
right, one wrong in a way only the hidden checks see), grades the lesson from the progress
page, reads the points, the hidden check's message and the feedback page, fixes the
answer and grades again.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import nbformat
import pytest
from labpage import ARTIFACTS
from playwright.sync_api import expect

from course.cells import grade_id_of, is_graded, is_solution, points
from course.corpus import solution_sources
from course.lessons import find_lessons

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
LESSON = "01_shared_layers"
NOTEBOOK = f"{LESSON}/{LESSON}.ipynb"
#: The course's points, as the progress page totals them (the README's table says the same).
COURSE_TOTAL = round(
    sum(
        points(cell)
        for lesson in find_lessons(REPO)
        for cell in nbformat.read(lesson.source_notebook, as_version=4).cells
        if is_graded(cell)
    )
)
GRADE_TIMEOUT = 600_000  # ms: a bound for a busy machine, not an expectation
# Exercise 1 with one more layer before the head: the visible checks (output shape, the
# encoder called twice) pass; the hidden ones count the parameters and fail.
EXTRA_LAYER = """keras.backend.clear_session()
a = keras.Input((64,), name="a")
b = keras.Input((64,), name="b")
shared_encoder = layers.Dense(32, activation="relu", name="shared_encoder")
pair = layers.Concatenate(name="pair")([shared_encoder(a), shared_encoder(b)])
extra = layers.Dense(16, activation="relu", name="extra")(pair)
shared_model = keras.Model([a, b], layers.Dense(1, activation="sigmoid", name="head")(extra))
"""
HIDDEN_MESSAGE = "'functional' should have 2,145 parameters, but it has 3,137 (+992)."


def _solutions() -> dict[str, str]:
    source = REPO / "solutions" / LESSON / f"{LESSON}.ipynb"
    return solution_sources(nbformat.read(source, as_version=4))


def _answer_cells() -> dict[str, int]:
    cells = nbformat.read(REPO / "notebooks" / NOTEBOOK, as_version=4).cells
    return {grade_id_of(c): i for i, c in enumerate(cells) if is_solution(c)}


def _cell_count(path: Path) -> int:
    return len(nbformat.read(path, as_version=4).cells)


def _saved_answers(path: Path) -> dict[str, str]:
    cells = nbformat.read(path, as_version=4).cells
    return {grade_id_of(c): c.source for c in cells if is_solution(c)}


def _type_and_save(lab, answers: dict[str, str]) -> None:
    """Type ``answers`` into lesson 01 and save it (Ctrl+S), until the file has them."""
    lab.open_notebook(NOTEBOOK, cells=_cell_count(REPO / "notebooks" / NOTEBOOK))
    indices = _answer_cells()
    for grade_id, source in answers.items():
        lab.set_cell_source(indices[grade_id], source)
    dirty = lab.page.locator(".lm-TabBar-tab.jp-mod-dirty")
    expect(dirty).to_have_count(1)
    lab.page.keyboard.press("ControlOrMeta+s")
    expect(dirty).to_have_count(0)
    saved = lab.server.course_dir / "notebooks" / NOTEBOOK
    deadline = time.monotonic() + 60
    while any(_saved_answers(saved)[g].strip() != a.strip() for g, a in answers.items()):
        assert time.monotonic() < deadline, "the notebook was not saved"
        time.sleep(0.1)  # poll interval


def _open_progress(lab):
    lab.open_notebook("progress.ipynb", cells=2)
    lab.run_all_cells()
    page = lab.panel.locator(".course-progress")
    expect(page).to_be_visible()
    return page


def _grade(lab, page, points: str) -> None:
    page.locator(f".course-grade-{LESSON}").click()
    expect(page).to_contain_text(f"Grading {LESSON}")
    expect(page.locator(f".course-points-{LESSON}")).to_have_text(points, timeout=GRADE_TIMEOUT)


def _as_released(server) -> None:
    """Lesson 01 in the lab's course as released: the learner tests share this lab and
    leave their answers in it (nbgrader's Validate saves the notebook first), exercise 3
    answered, which this test counts as not attempted."""
    shutil.copy(REPO / "notebooks" / NOTEBOOK, server.course_dir / "notebooks" / NOTEBOOK)


def test_grade_my_work_from_jupyterlab(open_lab, learner_lab) -> None:
    _as_released(learner_lab)
    lab = open_lab(learner_lab)
    right = _solutions()["ex2_separate_model"]
    _type_and_save(lab, {"ex1_shared_model": EXTRA_LAYER, "ex2_separate_model": right})
    lab.shot("answers-saved")

    page = _open_progress(lab)
    expect(page.locator(f".course-points-{LESSON}")).to_have_text("– / 8")
    expect(page).to_contain_text(f"0 / {COURSE_TOTAL}")  # the course total, nothing graded yet
    lab.shot("progress-before")

    _grade(lab, page, "3 / 8")
    details = page.locator(f'details[data-lesson="{LESSON}"]')
    expect(details).to_contain_text("Exercise 1: a model that shares one encoder")
    expect(details).to_contain_text("Exercise 2: the same architecture, separate weights")
    expect(details).to_contain_text(HIDDEN_MESSAGE)  # the hidden check's message
    expect(details).to_contain_text("not attempted")  # exercise 3, left alone
    expect(page).to_contain_text(f"3 / {COURSE_TOTAL}")
    chart = page.locator("img")
    expect(chart).to_be_visible()
    assert chart.evaluate("img => img.naturalWidth") > 0  # the matplotlib chart is drawn
    details.scroll_into_view_if_needed()
    lab.shot("progress-graded")
    lab.page.set_viewport_size({"width": 1400, "height": 1700})
    page.screenshot(path=str(ARTIFACTS / "selfgrade-progress-page.png"))  # for docs/
    lab.page.set_viewport_size({"width": 1400, "height": 900})

    # The lesson's feedback page: the message, no hidden test.
    with lab.page.context.expect_page() as opened:
        page.locator(f".course-feedback-{LESSON} a").click()
    feedback = opened.value
    feedback.wait_for_load_state()
    text = feedback.locator("body").inner_text()
    assert HIDDEN_MESSAGE in text
    assert "Grade cell: test_ex1_shared_model" in text
    assert not re.search(r"pristine|HIDDEN TESTS|grader\.assert", text)
    feedback.screenshot(path=str(ARTIFACTS / "selfgrade-feedback-page.png"))
    feedback.close()

    # Fix exercise 1, see the page notice, grade again: the page updates.
    _type_and_save(lab, {"ex1_shared_model": _solutions()["ex1_shared_model"]})
    page = _open_progress(lab)
    expect(page.locator(f".course-note-{LESSON}")).to_have_text(
        "your notebook changed since it was graded: grade it again"
    )
    lab.shot("progress-changed")
    _grade(lab, page, "6 / 8")
    expect(page.locator(f".course-note-{LESSON}")).to_have_text("")
    expect(page.locator(f'details[data-lesson="{LESSON}"]')).not_to_contain_text(HIDDEN_MESSAGE)
    expect(page).to_contain_text(f"6 / {COURSE_TOTAL}")
    lab.shot("progress-regraded")
