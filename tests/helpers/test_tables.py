"""helpers.tables: the Table the reports return, as text and as HTML."""

from __future__ import annotations

import re

import pytest

from helpers.tables import Table


@pytest.fixture
def table() -> Table:
    return Table(
        ["variable", "shape", "params", "shared"],
        [["encoder/kernel", (784, 64), 50176, True], ["score/bias", (1,), 1, False]],
        title="Report",
        footer=["2 variables"],
    )


def test_text_layout(table):
    assert str(table).splitlines() == [
        "Report",
        "variable        shape      params  shared",
        "--------------  ---------  ------  ------",
        "encoder/kernel  (784, 64)  50,176  yes",
        "score/bias      (1,)            1",
        "2 variables",
    ]
    assert repr(table) == str(table)


def test_numbers_right_aligned_text_left_aligned():
    t = Table(["name", "n"], [["a", 5], ["longer", 12345]])
    header, rule, first, second = str(t).splitlines()
    assert header == "name  " + "  " + "     n"
    assert first == "a     " + "  " + "     5"
    assert second == "longer" + "  " + "12,345"
    assert len(rule.split("  ")[1]) == len("12,345")


def test_column_wider_than_its_values_and_no_trailing_spaces():
    t = Table(["a very long header", "x"], [["v", ""], ["w", "text"]])
    lines = str(t).splitlines()
    assert all(line == line.rstrip() for line in lines)
    assert lines[0] == "a very long header  x"
    assert lines[2] == "v"
    assert lines[3] == "w                   text"


def test_a_column_mixing_numbers_and_text_is_left_aligned():
    t = Table(["v"], [[1], ["two"]])
    assert str(t).splitlines()[2:] == ["1", "two"]


def test_booleans_are_not_numbers():
    t = Table(["flag"], [[True], [False]])
    assert str(t).split("\n") == ["flag", "----", "yes", ""]  # False shows as an empty cell


def test_no_title_no_rows():
    t = Table(["a", "bb"], [])
    assert str(t).splitlines() == ["a  bb", "-  --"]


def test_column_accessor(table):
    assert table.column("params") == [50176, 1]
    assert table.column("shape") == [(784, 64), (1,)]
    with pytest.raises(ValueError):
        table.column("nope")


def test_html_structure_and_alignment(table):
    html = table._repr_html_()
    assert html.startswith("<table><caption style='text-align:left'><b>Report</b></caption>")
    assert html.count("<tr>") == 3
    assert '<th style="text-align:right">params</th>' in html
    assert '<th style="text-align:left">variable</th>' in html
    assert '<td style="text-align:right">50,176</td>' in html
    assert '<td style="text-align:left">yes</td>' in html
    assert html.endswith("</table><p>2 variables</p>")


def test_html_escapes_everything():
    t = Table(
        ["<col>"], [["<script>alert('x')</script>"], ["a & b"]], title="<b>t</b>", footer=["x < y"]
    )
    html = t._repr_html_()
    assert "<script>" not in html and "<col>" not in html and "<b>t</b>" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert "&lt;col&gt;" in html
    assert "a &amp; b" in html
    assert "<b>&lt;b&gt;t&lt;/b&gt;</b>" in html
    assert "<p>x &lt; y</p>" in html
    # Every tag left is one the table made itself.
    assert set(re.findall(r"</?([a-z]+)", html)) <= {
        "table",
        "caption",
        "b",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "p",
    }


def test_html_without_title_has_no_caption():
    assert "<caption" not in Table(["a"], [[1]])._repr_html_()
