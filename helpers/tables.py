"""A small table that shows itself well in a notebook (HTML) and in plain text.

The report functions of the kit return a :class:`Table`; a cell that ends with one shows
it as a table, ``print(table)`` shows the text form, and ``table.rows`` gives the data.

Example:
    >>> t = Table(["layer", "params"], [["dense", 12], ["dense_1", 3]], title="Demo")
    >>> print(t)
    Demo
    layer    params
    -------  ------
    dense        12
    dense_1       3
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Table"]


def _cell_text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else ""
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, tuple):
        return str(tuple(value))
    return str(value)


@dataclass
class Table:
    """Rows of values under named columns. Integers are shown with thousands separators
    and right-aligned; ``True`` shows as ``yes``."""

    columns: Sequence[str]
    rows: list[list[Any]]
    title: str = ""
    footer: list[str] = field(default_factory=list)

    def column(self, name: str) -> list[Any]:
        """The values of one column."""
        i = list(self.columns).index(name)
        return [row[i] for row in self.rows]

    def _numeric(self, i: int) -> bool:
        values = [row[i] for row in self.rows]
        return bool(values) and all(isinstance(v, int) and not isinstance(v, bool) for v in values)

    def __str__(self) -> str:
        texts = [[_cell_text(v) for v in row] for row in self.rows]
        widths = [max([len(c)] + [len(r[i]) for r in texts]) for i, c in enumerate(self.columns)]

        def line(cells: Sequence[str]) -> str:
            parts = [  # one cell per column: cells beyond the columns are not shown
                cell.rjust(w) if self._numeric(i) else cell.ljust(w)
                for i, (cell, w) in enumerate(zip(cells, widths, strict=False))
            ]
            return "  ".join(parts).rstrip()

        lines = [self.title] if self.title else []
        lines.append(line(list(self.columns)))
        lines.append("  ".join("-" * w for w in widths))
        lines.extend(line(r) for r in texts)
        lines.extend(self.footer)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        def cell(tag: str, value: Any, i: int) -> str:
            align = "right" if self._numeric(i) else "left"
            return f'<{tag} style="text-align:{align}">{html.escape(_cell_text(value))}</{tag}>'

        head = "".join(cell("th", c, i) for i, c in enumerate(self.columns))
        body = "".join(
            "<tr>" + "".join(cell("td", v, i) for i, v in enumerate(row)) + "</tr>"
            for row in self.rows
        )
        caption = (
            f"<caption style='text-align:left'><b>{html.escape(self.title)}</b></caption>"
            if self.title
            else ""
        )
        foot = "".join(f"<p>{html.escape(line)}</p>" for line in self.footer)
        return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{foot}"
