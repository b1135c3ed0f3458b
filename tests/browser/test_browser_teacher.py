"""``course lab --teacher`` in a real browser: the whole course, the formgrader and the
"Create Assignment" panel on, and the capacity lesson's explorer working live.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
LESSONS = sorted(path.name for path in (REPO / "solutions").glob("[0-9]*") if path.is_dir())
CAPACITY_SOLUTION = "solutions/04_capacity/04_capacity.ipynb"
PARAMETERS = re.compile(r"Parameters:\s*(\d{1,3}(?:,\d{3})*)\b")


def test_teacher_view_has_the_formgrader_with_every_lesson(open_lab, teacher_lab) -> None:
    if not LESSONS:
        pytest.skip("no lessons in solutions/ yet")
    lab = open_lab(teacher_lab)
    lab.page.goto(f"{teacher_lab.base_url}/lab?reset&token={teacher_lab.token}")
    menu = lab.page.locator(".lm-MenuBar-item", has_text="Nbgrader")
    menu.click()
    lab.shot("nbgrader-menu")
    lab.page.locator('.lm-Menu-item[data-command="nbgrader:open-formgrader"]').click()

    formgrader = lab.page.frame_locator("iframe").first
    expect(formgrader.get_by_text("Manage Assignments").first).to_be_visible(timeout=60_000)
    for lesson in LESSONS:
        row = formgrader.locator("#main-table").get_by_text(lesson, exact=True)
        expect(row).to_be_visible(timeout=30_000)
    expect(lab.page.get_by_text("Create Assignment", exact=True)).to_be_visible()
    lab.shot("formgrader")
    expect(lab.dialogs).to_have_count(0)


def _showing(params: int) -> re.Pattern[str]:
    """Text that shows exactly ``params`` parameters, e.g. "Parameters: 1,234"."""
    return re.compile(rf"Parameters:\s*{re.escape(f'{params:,}')}(?![\d,])")


def _parameter_count(text: str) -> int:
    match = PARAMETERS.search(text)
    assert match, f"no 'Parameters: N' with thousands separators in {text!r}"
    return int(match.group(1).replace(",", ""))


def _wait_for_new_chart(lab, explorer, previous: str) -> str:
    """Wait until the explorer shows exactly one chart image, other than ``previous``.

    (While an Output widget redraws, the old and the new image can both be there.)
    """
    lab.page.wait_for_function(
        """([node, previous]) => {
            const images = node.querySelectorAll("img");
            return images.length === 1 && images[0].complete && images[0].naturalWidth > 0
                && images[0].getAttribute("src") !== previous;
        }""",
        arg=[explorer.element_handle(), previous],
        timeout=30_000,
    )
    return explorer.locator("img").get_attribute("src") or ""


def test_capacity_explorer_updates_count_and_chart(open_lab, teacher_lab) -> None:
    notebook = REPO / CAPACITY_SOLUTION
    if not notebook.is_file():
        pytest.skip(f"{CAPACITY_SOLUTION} is not there yet")
    lab = open_lab(teacher_lab)
    lab.open_notebook(CAPACITY_SOLUTION, cells=len(nbformat.read(notebook, as_version=4).cells))
    lab.run_all_cells()
    assert lab.error_outputs() == []

    # The first output with a width slider is the explorer.
    explorer = lab.panel.locator(".jp-OutputArea-output").filter(has=lab.any_slider("width")).first
    expect(explorer).to_be_visible()
    width, depth = lab.slider("width", explorer).first, lab.slider("depth", explorer).first
    expect(depth).to_be_visible()
    count = explorer.get_by_text(PARAMETERS)
    expect(count).to_have_count(1)
    chart_src = _wait_for_new_chart(lab, explorer, previous="")
    explorer.scroll_into_view_if_needed()
    lab.shot("explorer-after-run-all")
    params0 = _parameter_count(count.inner_text())
    assert chart_src.startswith(("data:image/", "blob:")), chart_src[:40]

    width0 = lab.slider_value(width)
    lab.nudge_slider(width, 1)  # one step: one redraw to wait for
    expect(width.locator(".widget-readout")).not_to_have_text(str(width0))
    assert lab.slider_value(width) > width0
    expect(count).not_to_have_text(_showing(params0), timeout=30_000)
    chart_src = _wait_for_new_chart(lab, explorer, previous=chart_src)
    params1 = _parameter_count(count.inner_text())
    lab.shot("explorer-wider")
    assert params1 > params0, "a wider network must have more parameters"

    depth0 = lab.slider_value(depth)
    lab.nudge_slider(depth, 1)
    expect(depth.locator(".widget-readout")).not_to_have_text(str(depth0))
    assert lab.slider_value(depth) > depth0
    expect(count).not_to_have_text(_showing(params1), timeout=30_000)
    _wait_for_new_chart(lab, explorer, previous=chart_src)
    params2 = _parameter_count(count.inner_text())
    lab.shot("explorer-deeper")
    assert params2 > params1, "a deeper network must have more parameters"
