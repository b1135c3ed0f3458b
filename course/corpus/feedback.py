"""The text of a learner's feedback page (nbgrader's ``generate_feedback`` HTML)."""

from __future__ import annotations

from html.parser import HTMLParser


class _OutputText(HTMLParser):
    """Collects the text inside ``<div class="... output_subarea ...">`` elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._depth = 0  # nesting of <div> inside an output area; 0 = outside

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "div":
            return
        if self._depth:
            self._depth += 1
        elif "output_subarea" in (dict(attrs).get("class") or "").split():
            self._depth = 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "div" and self._depth:
            self._depth -= 1
            if not self._depth:
                self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._depth:
            self.parts.append(data)


def feedback_outputs(html_source: str) -> str:
    r"""The text of the cell outputs in an nbgrader feedback page (errors, prints), without
    the cells' source code, so a message found here was really produced by the run.

    >>> feedback_outputs('<pre>assert x, "msg"</pre><div class="output_subarea output_error">'
    ...                  '<pre><span>AssertionError</span>: x &lt; 1</pre></div>')
    'AssertionError: x < 1\n'
    """
    parser = _OutputText()
    parser.feed(html_source)
    parser.close()
    return "".join(parser.parts)
