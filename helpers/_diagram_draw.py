"""Layout and drawing of a :class:`helpers.diagram.SharingDiagram`.

networkx lays the graph out in layers (``multipartite_layout``: the calls in one column in
data-flow order, the variables in another); this module turns that layout into inches,
sizes the boxes to their text, and draws it with matplotlib on a ``Figure`` that pyplot
does not know about (so a notebook shows the diagram once, as the cell's value).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import networkx as nx
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import FancyBboxPatch, Patch


class Drawable(Protocol):
    """What this module draws (a :class:`helpers.diagram.SharingDiagram` is one): the
    nodes and edges, the graph they make, a title and the count of each variable kind.
    A protocol, so this module needs nothing from :mod:`helpers.diagram`."""

    calls: list
    variables: list
    edges: list
    graph: nx.Graph
    title: str
    counts: dict[str, int]
    layout: Layout


#: Variable kinds, in legend order, with what each means.
KINDS: dict[str, str] = {
    "own": "own: one call reads it",
    "shared": "shared: one layer, several calls",
    "tied": "tied: calls of different layers",
    "unused": "unused: no call reads it",
}

#: Fixed salt for the ids matplotlib writes into SVG (clip paths): same model, same bytes.
SVG_HASH_SALT = "helpers.sharing_diagram"


@dataclass(frozen=True)
class Style:
    """How a node kind looks: box fill and border, and the colour of its lines."""

    face: str
    edge: str
    line: str
    linestyle: str = "-"
    text: str = "#1a1a1a"


# Okabe-Ito colours (readable with colour-blindness): orange for shared, blue for tied.
STYLES: dict[str, Style] = {
    "call": Style(face="#ffffff", edge="#333333", line="#333333"),
    "op": Style(face="#f4f4f4", edge="#a0a0a0", line="#a0a0a0", text="#666666"),
    "own": Style(face="#ececec", edge="#7f7f7f", line="#a6a6a6"),
    "shared": Style(face="#fde3b3", edge="#E69F00", line="#E69F00"),
    "tied": Style(face="#cde4f4", edge="#0072B2", line="#0072B2"),
    "unused": Style(face="#ffffff", edge="#a0a0a0", line="#a0a0a0", linestyle="--"),
}

LABEL_SIZE = 10.0  # points
DETAIL_SIZE = 8.0
TITLE_SIZE = 11.0
HEADER_SIZE = 8.5
LEGEND_SIZE = 8.5
ROW = 0.62  # inches from one box centre to the next
BOX_HEIGHT = 0.46
PAD = 0.16  # inside a box, each side of the text
MIN_BOX = 1.1
GAP = 1.5  # between the two columns, where the lines run
MARGIN = 0.25
TITLE_BAND = 0.42
HEADER_BAND = 0.3
LEGEND_ROW = 0.22
LEGEND_HANDLE = 0.45  # handle, its gap and the space between legend columns


def _renderer():
    return FigureCanvasAgg(Figure(dpi=72)).get_renderer()


def _width(renderer, text: str, size: float, weight: str = "normal") -> float:
    """Width of ``text`` in inches (measured at 72 dpi, so pixels are points)."""
    prop = FontProperties(size=size, weight=weight)
    width, _, _ = renderer.get_text_width_height_descent(text, prop, ismath=False)
    return width / 72.0


def _style(node_kind: str, params: int) -> Style:
    if node_kind == "call":
        return STYLES["call"] if params else STYLES["op"]
    return STYLES[node_kind]


@dataclass
class Layout:
    """Where everything goes, in inches from the bottom left corner."""

    width: float
    height: float
    positions: dict[str, tuple[float, float]]  # node key -> box centre
    box_widths: tuple[float, float]  # calls column, variables column
    legend_columns: int
    legend_entries: list[tuple[str, Style]]


def _rows(graph: nx.Graph) -> dict[str, float]:
    """Node key -> row (0 at the top; half rows where a shorter column is centred), from
    networkx's layered layout: one layer per column, nodes in insertion order."""
    if not graph:
        return {}
    columns: dict[int, list[str]] = {}
    for key, column in graph.nodes(data="column"):
        columns.setdefault(column, []).append(key)  # a dict of lists keeps the order
    layout = nx.multipartite_layout(graph, subset_key=columns, align="vertical")
    # The layout spaces nodes 1 apart and columns 1 apart, then scales everything by one
    # factor; undo it so rows are whole steps again.
    steps: list[float] = []
    for column in (0, 1):
        ys = sorted(
            float(y) for key, (_, y) in layout.items() if graph.nodes[key]["column"] == column
        )
        steps += [b - a for a, b in zip(ys, ys[1:], strict=False)]  # consecutive pairs
    xs = sorted({round(float(x), 9) for x, _ in layout.values()})
    scale = min(steps) if steps else (xs[1] - xs[0] if len(xs) > 1 else 1.0)
    top = min(float(y) for _, y in layout.values())  # the first node of a layer has the lowest y
    return {key: round((float(y) - top) / scale * 2) / 2 for key, (_, y) in layout.items()}


def legend_entries(diagram: Drawable) -> list[tuple[str, Style]]:
    counts = diagram.counts
    entries = [("layer call (inputs at the top)", STYLES["call"])]
    for kind, meaning in KINDS.items():
        if kind != "unused" or counts[kind]:
            entries.append((f"{meaning} ({counts[kind]})", STYLES[kind]))
    return entries


def layout(diagram: Drawable) -> Layout:
    """Box centres and the figure size for ``diagram``."""
    renderer = _renderer()
    rows = _rows(diagram.graph)
    box_widths = []
    for nodes in (diagram.calls, diagram.variables):
        texts = [
            max(_width(renderer, n.label, LABEL_SIZE), _width(renderer, n.detail, DETAIL_SIZE))
            for n in nodes
        ]
        box_widths.append(max([MIN_BOX, *texts]) + 2 * PAD)
    calls_w, variables_w = box_widths
    columns_width = calls_w + (GAP + variables_w if diagram.variables else 0)

    entries = legend_entries(diagram)
    entry_w = max(_width(renderer, text, LEGEND_SIZE) for text, _ in entries) + LEGEND_HANDLE
    title_w = _width(renderer, diagram.title, TITLE_SIZE, "bold")
    width = max(columns_width, entry_w, title_w) + 2 * MARGIN
    legend_columns = 2 if 2 * entry_w <= width - 2 * MARGIN else 1
    legend_height = math.ceil(len(entries) / legend_columns) * LEGEND_ROW + 0.1

    row_count = max(rows.values(), default=0) + 1
    height = MARGIN + legend_height + row_count * ROW + HEADER_BAND + TITLE_BAND
    left = (width - columns_width) / 2
    x_of = (left + calls_w / 2, left + calls_w + GAP + variables_w / 2)
    top_row = height - TITLE_BAND - HEADER_BAND - ROW / 2
    positions = {
        key: (x_of[diagram.graph.nodes[key]["column"]], top_row - row * ROW)
        for key, row in rows.items()
    }
    return Layout(width, height, positions, (calls_w, variables_w), legend_columns, entries)


def _box(ax, node, centre: tuple[float, float], width: float) -> None:
    style = _style(node.kind, node.params)
    x, y = centre
    patch = FancyBboxPatch(
        (x - width / 2, y - BOX_HEIGHT / 2),
        width,
        BOX_HEIGHT,
        boxstyle="round,pad=0,rounding_size=0.07",
        facecolor=style.face,
        edgecolor=style.edge,
        linewidth=1.6 if node.kind in ("shared", "tied") else 1.1,
        linestyle=style.linestyle,
        zorder=2,
    )
    patch.set_gid(f"sharing-{node.key.replace(':', '-')}")
    ax.add_patch(patch)
    ax.text(
        x,
        y + 0.085,
        node.label,
        ha="center",
        va="center",
        fontsize=LABEL_SIZE,
        color=style.text,
        zorder=3,
        parse_math=False,
    )
    ax.text(
        x,
        y - 0.115,
        node.detail,
        ha="center",
        va="center",
        fontsize=DETAIL_SIZE,
        color="#4d4d4d" if style.text == "#1a1a1a" else style.text,
        zorder=3,
        parse_math=False,
    )


def draw(diagram: Drawable) -> Figure:
    """The diagram on a new ``Figure`` sized to fit it."""
    plan = diagram.layout
    fig = Figure(figsize=(plan.width, plan.height))
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, plan.width)
    ax.set_ylim(0, plan.height)
    ax.set_axis_off()
    ax.set_gid("sharing-diagram")

    ax.text(
        plan.width / 2,
        plan.height - TITLE_BAND / 2 - 0.04,
        diagram.title,
        ha="center",
        va="center",
        fontsize=TITLE_SIZE,
        fontweight="bold",
        parse_math=False,
    )
    calls_w, variables_w = plan.box_widths
    header_y = plan.height - TITLE_BAND - HEADER_BAND / 2
    headers = [
        (diagram.calls, calls_w, "layer calls"),
        (diagram.variables, variables_w, "variables"),
    ]
    for nodes, _, text in headers:
        if nodes:
            x = plan.positions[nodes[0].key][0]
            ax.text(
                x,
                header_y,
                text,
                ha="center",
                va="center",
                fontsize=HEADER_SIZE,
                color="#666666",
                style="italic",
                parse_math=False,
            )

    for edge in diagram.edges:
        (xc, yc), (xv, yv) = plan.positions[edge.call], plan.positions[edge.variable]
        style = STYLES[edge.kind]
        line = ax.plot(
            [xc + calls_w / 2, xv - variables_w / 2],
            [yc, yv],
            color=style.line,
            linewidth=2.2 if edge.kind in ("shared", "tied") else 1.3,
            solid_capstyle="round",
            zorder=1,
        )[0]
        line.set_gid(
            f"sharing-edge-{edge.variable.replace(':', '-')}-{edge.call.replace(':', '-')}"
        )
    for node in diagram.calls:
        _box(ax, node, plan.positions[node.key], calls_w)
    for node in diagram.variables:
        _box(ax, node, plan.positions[node.key], variables_w)

    handles = [
        Patch(facecolor=s.face, edgecolor=s.edge, linestyle=s.linestyle, label=text)
        for text, s in plan.legend_entries
    ]
    legend = ax.legend(
        handles=handles,
        loc="lower center",
        bbox_to_anchor=(plan.width / 2, MARGIN * 0.6),
        bbox_transform=ax.transData,
        ncol=plan.legend_columns,
        frameon=False,
        fontsize=LEGEND_SIZE,
        handlelength=1.4,
        columnspacing=1.2,
    )
    legend.set_gid("sharing-legend")
    return fig
