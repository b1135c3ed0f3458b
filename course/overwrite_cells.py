"""nbgrader's OverwriteCells, without a false "checksum has changed" for hidden tests.

``nbgrader generate_assignment`` records each test cell in the gradebook *with* its
hidden tests (``### BEGIN HIDDEN TESTS`` ... ``### END HIDDEN TESTS``), then removes them
from the learner's copy. At autograde, ``OverwriteCells`` compares every read-only cell of
the submission with the gradebook: a test cell with hidden tests never matches, so every
learner's every such cell logs ``Attribute 'checksum' for cell ... has changed!`` and the
real warnings (a learner who edited a test cell) drown in them.

:class:`KitOverwriteCells` first recognises the unchanged learner copy (the gradebook
source with the hidden-test regions removed) and puts the full source in silently, as
nbgrader would; any other difference is reported by nbgrader as before. The grades are
the same: nbgrader restores the gradebook source in both cases.

``nbgrader_config.py`` puts it in ``Autograde.sanitize_preprocessors`` in place of
``OverwriteCells`` (``course grade`` reads the same list).
"""

from __future__ import annotations

import copy

from nbformat import NotebookNode
from nbgrader import utils
from nbgrader.api import MissingEntry
from nbgrader.preprocessors import ClearHiddenTests, OverwriteCells


def released_source(full_source: str, hidden: ClearHiddenTests) -> str:
    """``full_source`` as the learner received it: the hidden-test regions removed.

    >>> from nbformat.v4 import new_code_cell
    >>> released_source("check(a)\\n### BEGIN HIDDEN TESTS\\ncheck(b)\\n### END HIDDEN TESTS", ClearHiddenTests())
    'check(a)'
    """
    cell = NotebookNode(source=full_source, cell_type="code", metadata=NotebookNode())
    try:
        hidden._remove_hidden_test_region(cell)
    except RuntimeError:  # unbalanced markers: leave it to nbgrader's own check
        return full_source
    return cell.source


class KitOverwriteCells(OverwriteCells):
    """``OverwriteCells`` that expects the learner's test cells to lack the hidden tests."""

    def preprocess_cell(self, cell: NotebookNode, resources: dict, cell_index: int) -> tuple[NotebookNode, dict]:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id is not None and utils.is_locked(cell):
            try:
                source_cell = self.gradebook.find_source_cell(grade_id, self.notebook_id, self.assignment_id)
            except MissingEntry:
                source_cell = None
            if source_cell is not None and source_cell.locked and source_cell.source != cell.source:
                hidden = ClearHiddenTests(parent=self)
                if released_source(source_cell.source, hidden).strip() == cell.source.strip():
                    self.log.debug("Cell %s: hidden tests put back", grade_id)
                    cell = copy.deepcopy(cell)
                    cell.source = source_cell.source
        return super().preprocess_cell(cell, resources, cell_index)
