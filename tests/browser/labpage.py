"""What a person does in JupyterLab, as Playwright steps: open a notebook, type an answer,
press Validate and read the dialog, run every cell, move a slider; with a numbered
screenshot of each step in ``artifacts/browser/``.

Example (inside a test, with the ``open_lab`` fixture)::

    lab = open_lab(learner_lab)
    lab.open_notebook("01_shared_layers/01_shared_layers.ipynb", cells=24)
    lab.set_cell_source(5, "shared = keras.layers.Dense(4)")
    title, body = lab.validate()
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from labserver import LabServer
from playwright.sync_api import ConsoleMessage, Locator, Page, expect

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "browser"

# Console errors a healthy JupyterLab session may print: none are known today. Add a
# pattern here only with the reason it is harmless.
BENIGN_CONSOLE_ERRORS: list[re.Pattern[str]] = []

KERNEL_START_TIMEOUT = 60_000  # ms
VALIDATE_TIMEOUT = 180_000  # ms: the server runs the whole notebook
RUN_ALL_TIMEOUT = 180_000  # ms


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")


@dataclass
class LabPage:
    """One browser tab on a :class:`LabServer`."""

    page: Page
    server: LabServer
    test_name: str
    console: list[str] = field(default_factory=list)
    screenshots: list[Path] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda error: self.console.append(f"page error: {error}"))

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.console.append(f"console error: {message.text}")

    def console_errors(self) -> list[str]:
        """Console errors and uncaught page errors so far, the known-benign ones left out."""
        return [e for e in self.console if not any(p.search(e) for p in BENIGN_CONSOLE_ERRORS)]

    def shot(self, label: str) -> Path:
        """Save a screenshot as ``artifacts/browser/<test>__<nn>-<label>.png``."""
        number = len(self.screenshots) + 1
        path = ARTIFACTS / f"{_slug(self.test_name)}__{number:02d}-{_slug(label)}.png"
        self.page.screenshot(path=str(path))
        self.screenshots.append(path)
        return path

    # -- notebook -------------------------------------------------------------------------

    @property
    def panel(self) -> Locator:
        """The notebook in the current main-area tab."""
        return self.page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")

    @property
    def cells(self) -> Locator:
        return self.panel.locator(".jp-Notebook .jp-Cell")

    @property
    def dialogs(self) -> Locator:
        return self.page.locator(".jp-Dialog")

    def open_notebook(self, path: str, cells: int) -> None:
        """Open ``path`` and wait until its ``cells`` cells show and its kernel is idle."""
        self.page.goto(self.server.lab_url(path))
        expect(self.cells).to_have_count(cells, timeout=KERNEL_START_TIMEOUT)
        self.wait_until_idle(timeout=KERNEL_START_TIMEOUT)
        expect(self.panel.locator(".jp-Notebook-ExecutionIndicator")).to_have_attribute(
            "data-status", "idle"
        )

    def wait_until_idle(self, timeout: float = RUN_ALL_TIMEOUT) -> None:
        """If a notebook is open, wait until its kernel has nothing left to do.

        (A server stopped while a kernel is busy interrupts it, and the kernel logs
        "KeyboardInterrupt caught in kernel" as an error.)
        """
        if self.panel.count():
            kernel_idle = self.page.locator(".jp-StatusBar-Widget").filter(
                has_text=re.compile(r"\| Idle")
            )
            expect(kernel_idle).to_have_count(1, timeout=timeout)

    def set_cell_source(self, index: int, source: str) -> None:
        """Replace the text of cell ``index`` as a learner would: click, select all, type.

        The text is inserted in one go (as a paste), so the editor adds no indentation.
        """
        editor = self.cells.nth(index).locator(".cm-content")
        editor.click()
        self.page.keyboard.press("ControlOrMeta+a")
        self.page.keyboard.insert_text(source)
        expect(editor).to_have_text(re.compile(re.escape(source.strip().splitlines()[0])))
        self.page.keyboard.press("Escape")  # back to command mode, as after typing

    # -- nbgrader -------------------------------------------------------------------------

    @property
    def validate_button(self) -> Locator:
        return self.panel.locator(".validate-button")

    def validate(self) -> tuple[str, Locator]:
        """Press Validate, wait for nbgrader's result dialog; return its title and body.

        The dialog stays open (close it with :meth:`close_dialog`).
        """
        self.validate_button.click()
        dialog = self.dialogs.filter(has_text="Validation Results")
        expect(dialog).to_be_visible(timeout=VALIDATE_TIMEOUT)
        title = dialog.locator(".jp-Dialog-header").inner_text().strip()
        return title, dialog.locator("#validation-message")

    def close_dialog(self) -> None:
        self.dialogs.get_by_role("button", name="Ok").click()
        expect(self.dialogs).to_have_count(0)

    # -- running --------------------------------------------------------------------------

    def run_all_cells(self) -> None:
        """Run > Run All Cells, then wait until every code cell has run and the kernel is idle."""
        self.page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
        self.page.get_by_role("menuitem", name=re.compile(r"^Run All Cells")).click()
        prompts = self.panel.locator(".jp-CodeCell .jp-InputPrompt")
        not_run_yet = prompts.filter(has_text=re.compile(r"^\[(\s|\*)?\]:"))  # "[ ]:" or "[*]:"
        expect(not_run_yet).to_have_count(0, timeout=RUN_ALL_TIMEOUT)
        expect(self.panel.locator(".jp-Notebook-ExecutionIndicator")).to_have_attribute(
            "data-status", "idle", timeout=RUN_ALL_TIMEOUT
        )

    def error_outputs(self) -> list[str]:
        """Tracebacks and error messages shown in the notebook's outputs."""
        stderr = self.panel.locator(
            '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
        )
        return [text for text in stderr.all_inner_texts() if "Error" in text or "Traceback" in text]

    # -- widgets --------------------------------------------------------------------------

    def any_slider(self, description: str) -> Locator:
        """ipywidgets sliders whose description contains ``description`` (any case), as a
        page-wide locator (usable in ``filter(has=...)``)."""
        label = self.page.locator(
            ".widget-label", has_text=re.compile(re.escape(description), re.I)
        )
        return self.page.locator(".widget-slider").filter(has=label)

    def slider(self, description: str, within: Locator | None = None) -> Locator:
        """The sliders in ``within`` (default: the notebook) described by ``description``."""
        return (within or self.panel).locator(self.any_slider(description))

    @staticmethod
    def slider_value(slider: Locator) -> int:
        """The value a slider shows in its readout."""
        return int(slider.locator(".widget-readout").inner_text().replace(",", "").strip())

    def nudge_slider(self, slider: Locator, steps: int) -> None:
        """Move a slider ``steps`` ticks right (left if negative) with the keyboard."""
        handle = slider.locator(".noUi-handle")
        handle.focus()
        key = "ArrowRight" if steps > 0 else "ArrowLeft"
        for _ in range(abs(steps)):
            handle.press(key)
