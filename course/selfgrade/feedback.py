"""The learner's feedback page: nbgrader's own, without the hidden tests.

nbgrader's ``generate_feedback`` renders the autograded notebook, whose test cells were
restored from the gradebook WITH their hidden tests, and a failed test's traceback quotes
the line of the hidden test that raised. A teacher may hand that out; a learner grading
their own work must not get the hidden checks' source. :func:`write_feedback` runs
nbgrader's ``GenerateFeedback`` with two more steps, and checks the page it wrote:

- nbgrader's :class:`~nbgrader.preprocessors.ClearHiddenTests` cuts the
  ``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS`` region out of every test cell;
- :class:`MessagesOnly` replaces a failed test cell's traceback by its last line, the
  check's message (``CheckFailed: Layer 'shared_encoder' should be called 2 times ...``),
  the same message the teacher's feedback ends with;
- :func:`find_leaks` then looks for every line of a hidden test or of a solution (that the
  learner did not write themselves) in the page; a page with one is not published.

Example::

    secrets = secret_lines(source_nb, [release_nb, learner_nb])
    page = write_feedback(temp_course, "01_shared_layers", "me")   # the HTML file
    assert not find_leaks(page.read_text(), secrets)
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from pathlib import Path

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor, Preprocessor
from nbformat import NotebookNode
from nbgrader.converters import GenerateFeedback
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import ClearHiddenTests, GetGrades
from nbgrader.utils import capture_log
from traitlets import Bool

from course.cells import is_graded
from course.config import load_course_config

_TAG = re.compile(r"<[^>]*>")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_REGIONS = {
    "HIDDEN TESTS": re.compile(r"^\s*#+\s*(BEGIN|END) HIDDEN TESTS\s*$"),
    "SOLUTION": re.compile(r"^\s*#+\s*(BEGIN|END) SOLUTION\s*$"),
}
#: Lines shorter than this (``)``, ``else:``, ``x = 1``) say nothing about a secret.
MIN_SECRET_LENGTH = 12


class MessagesOnly(Preprocessor):
    """Each error of a graded test cell shows only its message: ``Name: message``."""

    enabled = Bool(True)  # nbconvert's preprocessors are off unless enabled

    def preprocess_cell(self, cell: NotebookNode, resources: dict, index: int):
        if cell.cell_type == "code" and is_graded(cell):
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [message_of(output)]
        return cell, resources


def message_of(error: NotebookNode | dict) -> str:
    """``"Name: message"`` of an error output, terminal colours removed.

    >>> message_of({"ename": "CheckFailed", "evalue": "\\x1b[31mLayer 'a' is wrong\\x1b[0m"})
    "CheckFailed: Layer 'a' is wrong"
    """
    value = _ANSI.sub("", str(error.get("evalue", ""))).strip()
    name = str(error.get("ename", "Error"))
    return f"{name}: {value}" if value else name


def region_lines(source: str, region: str) -> list[str]:
    """The lines between ``### BEGIN <region>`` and ``### END <region>`` of a cell.

    >>> region_lines("a\\n### BEGIN HIDDEN TESTS\\nsecret()\\n### END HIDDEN TESTS", "HIDDEN TESTS")
    ['secret()']
    """
    marker, inside, lines = _REGIONS[region], False, []
    for line in source.splitlines():
        match = marker.match(line)
        if match:
            inside = match.group(1) == "BEGIN"
        elif inside:
            lines.append(line)
    return lines


def secret_lines(source: NotebookNode, public: Iterable[NotebookNode]) -> set[str]:
    """The lines of the instructor notebook ``source`` a learner must not be shown: its
    hidden tests and solutions, except short lines and what a ``public`` notebook holds (the
    learner's own answers, the released lesson), even as part of a longer line.

    >>> from nbformat.v4 import new_code_cell, new_notebook
    >>> src = new_notebook(cells=[new_code_cell(
    ...     "### BEGIN SOLUTION\\nmodel = build_the_secret()\\nmine = keras.Input((8,))\\n"
    ...     "### END SOLUTION")])
    >>> secret_lines(src, [new_notebook(cells=[new_code_cell("mine = keras.Input((8,))")])])
    {'model = build_the_secret()'}
    """
    # Whatever a public notebook holds, even inside a longer line, is no secret.
    known = "\n".join(
        " ".join(line.split())
        for nb in public
        for cell in nb.cells
        for line in cell.source.splitlines()
    )
    secrets = set()
    for cell in source.cells:
        for region in _REGIONS:
            for line in region_lines(cell.source, region):
                text = line.strip()
                if len(text) >= MIN_SECRET_LENGTH and " ".join(text.split()) not in known:
                    secrets.add(text)
    return secrets


def visible_text(page: str) -> str:
    """What a browser shows of an HTML ``page`` (and what its styles and scripts hold), as
    one line: tags removed, entities read, whitespace collapsed.

    >>> visible_text('<pre><span class="n">grader</span>.check(  &quot;a&quot;)</pre>')
    'grader.check( "a")'
    """
    return " ".join(html.unescape(_TAG.sub("", page)).split())


def find_leaks(text: str, secrets: Iterable[str]) -> list[str]:
    """The ``secrets`` that appear in ``text``, an HTML page or plain text (whitespace and
    syntax-highlighting tags do not hide one).

    >>> find_leaks('<pre><span>grader</span>.assert_calls(m, &quot;enc&quot;, 2)</pre>',
    ...            ['grader.assert_calls(m, "enc", 2)', "other_secret()"])
    ['grader.assert_calls(m, "enc", 2)']
    """
    plain = visible_text(text)
    return sorted(secret for secret in secrets if " ".join(secret.split()) in plain)


def write_feedback(course_dir: Path, lesson: str, student: str) -> Path:
    """Run nbgrader's GenerateFeedback for ``student``'s graded ``lesson`` in ``course_dir``
    (hidden tests cleared, messages only); return the HTML page. RuntimeError if it fails."""
    config = load_course_config(course_dir)
    config.GenerateFeedback.preprocessors = [
        GetGrades,
        ClearHiddenTests,
        MessagesOnly,
        CSSHTMLHeaderPreprocessor,
    ]
    coursedir = CourseDirectory(config=config)
    coursedir.assignment_id = lesson
    coursedir.student_id = student
    converter = GenerateFeedback(coursedir=coursedir, config=config)
    converter.force = True
    result = capture_log(converter)
    page = Path(coursedir.format_path(coursedir.feedback_directory, student, lesson))
    page = page / f"{lesson}.html"
    if not result["success"] or not page.is_file():
        raise RuntimeError(f"nbgrader generate_feedback failed: {result.get('error', '')}".strip())
    return page
