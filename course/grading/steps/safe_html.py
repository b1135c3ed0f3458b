"""Learner HTML made inert before a teacher's browser shows it.

A graded notebook is shown in the teacher's logged-in Jupyter (nbgrader's formgrader renders
``autograded/`` with nbconvert, unsanitized) and in the learner's feedback page. Whatever a
learner's notebook displayed would run there: a ``<script>`` in ``display(HTML(...))``, an
``<img onerror=...>``, a ``javascript:`` link, raw HTML in a markdown cell, an
``application/javascript`` output, a widget view. :class:`SanitizeLearnerHTML` is an nbgrader
(nbconvert) preprocessor that makes all of it inert, with ``bleach`` (the sanitizer nbconvert's
own ``SanitizeHTML`` uses) and an allow-list:

* **outputs** keep only kinds that cannot run code: text, LaTeX, JSON, PNG/JPEG/GIF images;
  ``text/html`` is cleaned (tables, text formatting, colours and ``data:`` images stay;
  scripts, style sheets, event handlers, frames, forms, ``id`` attributes and links other
  than http(s) and mailto go); an SVG image (matplotlib's plots, the kit's sharing
  diagram) is kept unchanged when it holds nothing active (no script, ``foreignObject``,
  event handler or link out of the image), else dropped; every other kind (JavaScript,
  widget views, unknown kinds) is dropped. An output left with nothing says so in plain
  text;
* **markdown and raw cells** written by the learner that hold HTML, a link, an entity or
  LaTeX are rendered to HTML (nbconvert's own markdown renderer, which keeps
  ``javascript:`` links) and cleaned the same way; MathJax's ``\\href`` and ``\\url`` (in
  them and in LaTeX outputs) become plain text; the lesson's own read-only cells (put back
  from the gradebook by nbgrader) and plain markdown stay as they are;
* the notebook's **widget state** (``metadata.widgets``) goes: nbconvert's templates load
  the widget manager for it.

The kit's ``nbgrader_config.py`` puts it last in ``nbgrader autograde``'s list (so the
notebook stored in ``autograded/`` is clean, in both graders) and in the ``HTMLExporter``
that renders the formgrader's pages and ``nbgrader generate_feedback`` (so a notebook
graded before, or by another config, is cleaned before it is shown). It runs after the
grades are saved: it changes what is shown, never a score.

Example::

    >>> clean_html('<b onclick="steal()">hi</b><script>steal()</script>')
    '<b>hi</b>'
    >>> cell = nbformat.v4.new_code_cell(outputs=[nbformat.v4.new_output(
    ...     "display_data", data={"application/javascript": "steal()", "text/plain": "<JS>"})])
    >>> dict(sanitize_outputs(cell.outputs)[0].data)
    {'text/plain': '<JS>'}
"""

from __future__ import annotations

import re
from typing import Any

import bleach
import nbformat  # noqa: F401 (the examples use it)
from bleach.css_sanitizer import CSSSanitizer
from defusedxml import ElementTree
from nbconvert.filters.markdown import markdown2html
from nbconvert.preprocessors import Preprocessor
from nbformat import NotebookNode

from course.cells import grade_id_of, is_locked, is_solution

#: Output kinds shown as they are: none of them can run code in a browser.
SAFE_KINDS = frozenset(
    {
        "text/plain",
        "application/json",
        "image/png",
        "image/jpeg",
        "image/gif",
    }
)
#: Output kinds kept after cleaning (:func:`clean_html`, :func:`clean_markdown`, :func:`safe_svg`).
CLEANED_KINDS = frozenset({"text/html", "text/markdown", "text/latex", "image/svg+xml"})

#: HTML elements a cleaned output or markdown cell may keep.
TAGS = frozenset(
    {
        *bleach.ALLOWED_TAGS,
        *(f"h{level}" for level in range(1, 7)),
        *"p div span pre br hr sub sup small kbd samp var del ins s u mark".split(),
        *"table thead tbody tfoot tr th td caption colgroup col".split(),
        *"img figure figcaption details summary dl dt dd".split(),
    }
)
#: Image types an ``<img src="data:...">`` may hold (not SVG: it could hold a script).
_DATA_IMAGE = re.compile(r"data:image/(png|jpeg|gif);base64,[A-Za-z0-9+/=\s]*\Z")
#: Elements removed with their content before cleaning (bleach would keep their text).
_WITH_CONTENT = re.compile(
    r"<(script|style|template|noscript|textarea|title|xmp|iframe|object)\b.*?</\1\s*>",
    re.IGNORECASE | re.DOTALL,
)


#: CSS properties a ``style`` attribute may keep: colours and text layout (Keras's model
#: summaries, pandas tables), nothing that moves an element over the page.
STYLES = frozenset(
    {
        "color",
        "background-color",
        "font-weight",
        "font-style",
        "font-family",
        "font-size",
        "text-align",
        "text-decoration",
        "text-decoration-color",
        "vertical-align",
        "white-space",
        "overflow-x",
        "line-height",
    }
)


def _attribute_allowed(tag: str, name: str, value: str) -> bool:
    if name in ("class", "title", "style"):  # style: only STYLES are kept
        return True
    if tag == "a":  # bleach keeps only links with the protocols of _CLEANER; not data:
        return name == "href" and not value.strip().lower().startswith("data:")
    if tag == "img":
        return name in ("alt", "width", "height") or (
            name == "src" and bool(_DATA_IMAGE.match(value))
        )
    if tag in ("td", "th"):
        return name in ("colspan", "rowspan", "align")
    if tag == "ol":
        return name == "start"
    return tag == "table" and name == "border"


_CLEANER = bleach.Cleaner(
    tags=TAGS,
    attributes=_attribute_allowed,
    protocols={"http", "https", "mailto", "data"},
    strip=True,
    strip_comments=True,
    css_sanitizer=CSSSanitizer(allowed_css_properties=STYLES),
)


def clean_html(html: str) -> str:
    """``html`` with only the allowed elements and attributes (:data:`TAGS`), nothing that
    runs code; the text of removed elements stays, except of scripts and styles.

    >>> clean_html('<table><tr style="color: red; position: fixed"><td>1</td></tr></table>')
    '<table><tbody><tr style="color: red;"><td>1</td></tr></tbody></table>'
    >>> clean_html('<a href="javascript:steal()">x</a><img src=x onerror=steal()>')
    '<a>x</a><img>'
    """
    return _CLEANER.clean(_WITH_CONTENT.sub("", html))


#: What markdown needs to hold HTML, a link (``[x](javascript:...)``: nbconvert's renderer
#: keeps any protocol), an entity or a LaTeX command; markdown without any is plain text.
_MARKDOWN_ACTIVE = re.compile(r"[<:&\\]")
#: MathJax's link commands (``\href{javascript:...}{x}`` runs on a click).
_MATH_LINK = re.compile(r"\\(href|url)(?![A-Za-z])")


def clean_math(text: str) -> str:
    r"""``text`` with MathJax's link commands made plain text commands.

    >>> clean_math(r"$\href{javascript:steal()}{x}$")
    '$\\text{javascript:steal()}{x}$'
    """
    return _MATH_LINK.sub(r"\\text", text)


def clean_markdown(source: str) -> str:
    """Markdown ``source`` unchanged when it is plain text (no HTML, link, entity or LaTeX
    command: none of ``< : & \\``), else rendered to HTML (nbconvert's renderer, as the
    teacher's page would) and cleaned (:func:`clean_html`, :func:`clean_math`).

    >>> clean_markdown("**bold** and `code`")
    '**bold** and `code`'
    >>> clean_markdown("Hi <script>steal()</script> `<b>`")
    '<p>Hi  <code>&lt;b&gt;</code></p>'
    >>> clean_markdown("[grades](javascript:steal())")
    '<p><a>grades</a></p>'
    """
    if not _MARKDOWN_ACTIVE.search(source):
        return source
    return clean_math(clean_html(markdown2html(source))).strip()


#: SVG elements and attributes that can run code or reach outside the image.
_ACTIVE_SVG = frozenset({"script", "foreignobject", "iframe", "embed", "object", "handler"})
_LINK_ATTRIBUTES = frozenset({"href", "src", "action", "formaction"})


def safe_svg(svg: str) -> bool:
    """Whether ``svg`` is a well-formed SVG document with nothing active in it: no script,
    ``foreignObject`` or event handler, links only within the image (``#id``), and no
    ``<set>``/``<animate>`` that could change a link.

    >>> safe_svg('<svg xmlns="http://www.w3.org/2000/svg"><circle r="1"/></svg>')
    True
    >>> safe_svg('<svg xmlns="http://www.w3.org/2000/svg" onload="steal()"/>')
    False
    """
    try:
        root = ElementTree.fromstring(svg.encode("utf-8"))
    except Exception:  # noqa: BLE001 - not XML, entities, DTD tricks: not kept
        return False
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        tag = element.tag.rsplit("}", 1)[-1].lower()
        if tag in _ACTIVE_SVG:
            return False
        for name, value in element.attrib.items():
            local = name.rsplit("}", 1)[-1].lower()
            if local.startswith("on"):
                return False
            if local in _LINK_ATTRIBUTES and not value.strip().startswith("#"):
                return False
            if tag in ("set", "animate") and local == "attributename":
                return False
    return True


def _clean_data(kind: str, value: Any) -> Any | None:
    if isinstance(value, list):  # nbformat allows multi-line strings as lists
        value = "".join(value)
    if not isinstance(value, str):
        return None
    if kind == "text/html":
        return clean_html(value)
    if kind == "text/latex":
        return clean_math(value)
    if kind == "text/markdown":
        return clean_markdown(value)
    return value if safe_svg(value) else None


def sanitize_outputs(outputs: list[NotebookNode]) -> list[NotebookNode]:
    """``outputs`` (in place) with only what cannot run code in a browser (module doc)."""
    for output in outputs:
        if output.get("output_type") not in ("display_data", "execute_result"):
            continue  # streams and errors are text, escaped by every renderer
        data = output.get("data", {})
        removed = []
        for kind in list(data):
            if kind in SAFE_KINDS:
                continue
            cleaned = _clean_data(kind, data[kind]) if kind in CLEANED_KINDS else None
            if cleaned is None:
                removed.append(kind)
                del data[kind]
            else:
                data[kind] = cleaned
        if removed and not data:
            data["text/plain"] = (
                f"[grader: an output of kind {', '.join(sorted(removed))} was removed: "
                "it could run code in the teacher's browser]"
            )
    return outputs


def _is_lesson_cell(cell: NotebookNode) -> bool:
    """A read-only cell of the lesson: nbgrader put its source back from the gradebook
    (``OverwriteCells``; a grade id the gradebook does not know loses its metadata first,
    :mod:`course.grading.steps.fairness`)."""
    return is_locked(cell) and bool(grade_id_of(cell)) and not is_solution(cell)


class SanitizeLearnerHTML(Preprocessor):
    """nbgrader preprocessor: the learner's HTML and scripts made inert (module doc).

    In ``nbgrader_config.py``::

        c.Autograde.autograde_preprocessors = [..., SanitizeLearnerHTML]
        c.HTMLExporter.preprocessors = ["course.grading.steps.safe_html.SanitizeLearnerHTML"]
    """

    def preprocess(self, nb: NotebookNode, resources: Any) -> tuple[NotebookNode, Any]:
        """Clean every cell, and drop the notebook's widget state."""
        nb.metadata.pop("widgets", None)
        return super().preprocess(nb, resources)

    def preprocess_cell(
        self, cell: NotebookNode, resources: Any, index: int
    ) -> tuple[NotebookNode, Any]:
        """Clean one cell: its outputs, or its source if it is the learner's markdown or raw
        cell."""
        if cell.cell_type == "code":
            sanitize_outputs(cell.get("outputs", []))
        elif cell.cell_type in ("markdown", "raw") and not _is_lesson_cell(cell):
            source = cell.source if isinstance(cell.source, str) else "".join(cell.source)
            if cell.cell_type == "markdown":
                cell.source = clean_markdown(source)
            elif "<" in source:  # raw HTML goes into the page as it is
                cell.source = clean_html(source)
        return cell, resources
