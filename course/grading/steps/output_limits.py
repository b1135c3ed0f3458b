"""Caps on what a learner's outputs may hold, so no notebook can flood the grader.

:class:`LimitAllOutput` (in place of nbgrader's ``LimitOutput`` in the autograde list)
caps every saved output; :func:`cap_output` also cuts each output as it arrives while the
notebook runs (:class:`.restarting_execute.RestartingExecute`). What is cut ends with
``... Output truncated ...``.

Example::

    c.LimitAllOutput.max_chars = 20_000   # per error message, traceback line, data entry
"""

from __future__ import annotations

import json
from typing import Any

import nbformat
from nbformat import NotebookNode
from nbgrader.preprocessors import LimitOutput
from traitlets import Integer


class LimitAllOutput(LimitOutput):
    """nbgrader's LimitOutput (stream lines, traceback lines) that also caps, per output,
    the characters of error messages and traceback lines, of each display data entry and
    of output metadata; what is cut ends with ``... Output truncated ...``."""

    max_chars = Integer(
        20_000,
        help="Characters kept per error message, traceback line and data entry (-1: no limit)",
    ).tag(config=True)
    max_metadata_chars = Integer(
        2_000, help="Characters of an output's metadata kept (-1: no limit)"
    ).tag(config=True)

    def preprocess_cell(
        self, cell: NotebookNode, resources: dict, index: int
    ) -> tuple[NotebookNode, dict]:
        cell, resources = super().preprocess_cell(cell, resources, index)
        if cell.cell_type == "code" and self.max_chars >= 0:
            for output in cell.outputs:
                cap_output(output, self.max_chars, self.max_metadata_chars)
        return cell, resources


def cap_output(
    output: dict, max_chars: int, max_metadata_chars: int = 2_000, kind: str | None = None
) -> bool:
    """Cut every text of one output to ``max_chars`` (metadata to ``max_metadata_chars``,
    as JSON: dropped when longer); True if something was cut. ``output`` is a notebook
    output or the content of a kernel message of type ``kind``.

    >>> out = nbformat.v4.new_output("error", ename="E", evalue="x" * 50, traceback=["y" * 50])
    >>> cap_output(out, 10), out.evalue
    (True, 'xxxxxxxxxx... Output truncated ...')
    """
    cut = False

    def short(text: Any) -> Any:
        nonlocal cut
        if isinstance(text, list):
            text = "".join(str(t) for t in text)
        if isinstance(text, str) and len(text) > max_chars:
            cut = True
            return text[:max_chars] + "... Output truncated ..."
        return text

    kind = kind or output.get("output_type")
    if kind == "error":
        output["ename"] = short(output.get("ename", ""))
        output["evalue"] = short(output.get("evalue", ""))
        output["traceback"] = [short(line) for line in output.get("traceback", [])]
    elif kind == "stream":
        output["text"] = short(output.get("text", ""))
    for key, value in list(output.get("data", {}).items()):
        if not isinstance(value, (str, list)):
            value = json.dumps(value)
            if len(value) > max_chars:
                output["data"].pop(key)
                cut = True
            continue
        output["data"][key] = short(value)
    metadata = output.get("metadata")
    if (
        metadata
        and max_metadata_chars >= 0
        and len(json.dumps(metadata, default=str)) > max_metadata_chars
    ):
        output["metadata"] = nbformat.from_dict({})
        cut = True
    return cut
