"""A sharing diagram: the picture of which layer calls read which variables.

The model's layer calls stand in a column, inputs at the top and outputs at the bottom;
each variable (or each layer's group of variables) is drawn once, in a second column,
and joined by a line to every call that reads it. Colours say what kind of use it is:

- **own**: one call reads it;
- **shared**: one layer called several times reads it (a siamese encoder);
- **tied**: calls of different layers read it (a decoder using its encoder's kernel);
- **unused**: the model tracks it, yet no call reads it (nothing trains it).

Every variable holds its parameter count, so the counts add up to the model's total.
A notebook cell that ends with the diagram shows it (as SVG); ``.save("x.png")`` writes
a file; ``.nodes``, ``.edges`` and ``.readers`` give what it draws.

Example:
    >>> import keras
    >>> left, right = keras.Input((4,)), keras.Input((4,))
    >>> encoder = keras.layers.Dense(3, name="encoder")
    >>> model = keras.Model([left, right], [encoder(left), encoder(right)], name="siamese")
    >>> diagram = sharing_diagram(model)
    >>> diagram
    SharingDiagram('siamese': 2 calls; 2 variables, 15 parameters; 0 own, 2 shared, 0 tied)
    >>> dict(diagram.readers)["encoder/kernel"]
    ['encoder[1]', 'encoder[2]']
    >>> [(node.label, node.kind, node.params) for node in diagram.variables]
    [('encoder/kernel', 'shared', 12), ('encoder/bias', 'shared', 3)]
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import keras
import matplotlib
import networkx as nx
from matplotlib.figure import Figure

from ._diagram_draw import KINDS, SVG_HASH_SALT, draw, layout
from .calls import Call, layer_calls
from .variables import VariableUse, variable_uses

__all__ = [
    "DIAGRAM_HINT",
    "DiagramEdge",
    "DiagramNode",
    "SharingDiagram",
    "diagram_hint",
    "sharing_diagram",
]

#: A hint for a failing check (``assert_shared(..., hint=DIAGRAM_HINT)``): where to look.
DIAGRAM_HINT = (
    "Draw your model with helpers.sharing_diagram(model): it joins each variable to every "
    "call that reads it (orange: shared by one layer's calls, blue: tied between layers)."
)

Group = Literal["variable", "layer"]


def diagram_hint(model_name: str = "model") -> str:
    """:data:`DIAGRAM_HINT` naming the learner's own variable.

    >>> diagram_hint("siamese").split(":")[0]
    'Draw your model with helpers.sharing_diagram(siamese)'
    """
    return DIAGRAM_HINT.replace("sharing_diagram(model)", f"sharing_diagram({model_name})")


@dataclass(frozen=True)
class DiagramNode:
    """One box of the diagram: a layer call, or a variable (or a group of variables).

    Attributes:
        key: unique within the diagram: ``"call:0"``, ``"call:1"``, ... in data-flow
            order; ``"variable:0"``, ... in the order drawn (top to bottom).
        kind: ``"call"``, or a variable kind: ``"own"``, ``"shared"``, ``"tied"``, ``"unused"``.
        label: the call's label (``"encoder[2]"``) or the variable's path
            (``"encoder/kernel"``; with ``group="layer"`` the owner, ``"encoder"``).
        detail: the second line: the layer class and the parameters the call reads, or the
            variable's shape and parameter count.
        params: parameters the variables hold (each counted once), or that the call reads.
        paths: the variable paths in a variable node; empty for a call.
    """

    key: str
    kind: str
    label: str
    detail: str
    params: int
    paths: tuple[str, ...] = ()
    owned: bool = True  # False: read by the model, but not one of its weights (not counted)

    @property
    def is_call(self) -> bool:
        return self.kind == "call"


@dataclass(frozen=True)
class DiagramEdge:
    """A line from a variable node to a call that reads it, coloured by the variable's kind."""

    variable: str
    call: str
    kind: str


def _call_key(call: Call) -> tuple:
    # Call objects are rebuilt on each inspection: a call is its whole call path (each
    # enclosing call's layer and number, then its own), so sub[1]/d[2] and sub[2]/d[2]
    # are two calls.
    return call.path


def _kind(use_calls: list[Call]) -> str:
    if not use_calls:
        return "unused"
    if len({id(c.layer) for c in use_calls}) > 1:
        return "tied"
    return "shared" if len(use_calls) > 1 else "own"


def _owner(path: str) -> tuple[str, str]:
    """``"wrap/dense/kernel"`` -> ``("wrap/dense", "kernel")``."""
    owner, _, name = path.rpartition("/")
    return (owner or name), name


def _params(n: int) -> str:
    return f"{n:,} param" + ("" if n == 1 else "s")


def _variable_groups(uses: list[VariableUse], group: Group) -> list[list[VariableUse]]:
    """Variables drawn together: each alone, or (``group="layer"``) those with one owner
    that exactly the same calls read (so a group never hides a difference in use)."""
    if group == "variable":
        return [[use] for use in uses]
    groups: dict[tuple, list[VariableUse]] = {}
    for use in uses:
        key = (_owner(use.path)[0], use.owned, tuple(_call_key(c) for c in use.calls))
        groups.setdefault(key, []).append(use)
    return list(groups.values())


def _variable_node(index: int, members: list[VariableUse], group: Group) -> DiagramNode:
    params = sum(u.size for u in members)
    frozen = sum(u.size for u in members if not u.trainable)
    if group == "variable":
        use = members[0]
        label, detail = use.path, f"{tuple(use.variable.shape)} · {_params(params)}"
        if frozen:
            detail += " · non-trainable"
    else:
        label = _owner(members[0].path)[0]
        detail = ", ".join(_owner(u.path)[1] for u in members) + f" · {_params(params)}"
        if frozen:
            detail += f" ({frozen:,} non-trainable)"
    owned = members[0].owned
    if not owned:
        detail += " · not this model's"
    return DiagramNode(
        f"variable:{index}",
        _kind(members[0].calls),
        label,
        detail,
        params,
        tuple(u.path for u in members),
        owned,
    )


class SharingDiagram:
    """What :func:`sharing_diagram` returns: the graph of calls and variables, its layout,
    and its drawing (SVG inline in a notebook; :meth:`save` to ``.svg`` or ``.png``).

    Attributes:
        model_name: the model's name, used in the title.
        group: ``"variable"`` (a box per variable) or ``"layer"`` (a box per layer's variables).
        calls: call nodes, in data-flow order (top to bottom).
        variables: variable nodes, in the order drawn (top to bottom).
        edges: one per (variable node, call that reads it).
        graph: the same as a ``networkx.Graph`` (node attributes ``kind``, ``label``,
            ``detail``, ``params``, ``column`` and ``pos``, the box centre in inches).
        layout: box centres, box widths and the figure size, in inches.
    """

    def __init__(
        self,
        model_name: str,
        calls: list[DiagramNode],
        variables: list[DiagramNode],
        edges: list[DiagramEdge],
        group: Group = "variable",
    ) -> None:
        self.model_name = model_name
        self.group = group
        self.calls = calls
        self.variables = variables
        self.edges = edges
        self.graph = nx.Graph(name=model_name)
        for column, nodes in enumerate((calls, variables)):
            for node in nodes:
                self.graph.add_node(
                    node.key,
                    column=column,
                    kind=node.kind,
                    label=node.label,
                    detail=node.detail,
                    params=node.params,
                )
        self.graph.add_edges_from((e.variable, e.call, {"kind": e.kind}) for e in edges)
        self.layout = layout(self)
        nx.set_node_attributes(self.graph, self.layout.positions, "pos")
        self._svg: str | None = None

    @property
    def nodes(self) -> list[DiagramNode]:
        """Every node: the calls, then the variables."""
        return [*self.calls, *self.variables]

    def node(self, key: str) -> DiagramNode:
        """The node with this key (``"call:0"``, ``"variable:3"``)."""
        for node in self.nodes:
            if node.key == key:
                return node
        raise KeyError(key)

    @property
    def readers(self) -> list[tuple[str, list[str]]]:
        """``(variable label, [labels of the calls that read it])`` per variable node, top
        to bottom; calls in data-flow order. (A list, not a dict: two variables can have
        one path, as after ``copy.deepcopy``.)"""
        order = {node.key: i for i, node in enumerate(self.calls)}
        labels = {node.key: node.label for node in self.calls}
        found = []
        for variable in self.variables:
            keys = sorted(
                (e.call for e in self.edges if e.variable == variable.key), key=order.__getitem__
            )
            found.append((variable.label, [labels[k] for k in keys]))
        return found

    @property
    def counts(self) -> dict[str, int]:
        """How many variable nodes of each kind (every kind of :data:`KINDS`, zeros included)."""
        return {kind: sum(node.kind == kind for node in self.variables) for kind in KINDS}

    @property
    def total_params(self) -> int:
        """Parameters in the model's variables, each counted once (as ``count_params()``:
        a variable it reads but does not track is drawn, not counted)."""
        return sum(node.params for node in self.variables if node.owned)

    @property
    def title(self) -> str:
        """``"siamese: 19 parameters"``: the model and its parameters, each variable counted
        once."""
        total = self.total_params
        return f"{self.model_name}: {total:,} parameter" + ("" if total == 1 else "s")

    def figure(self) -> Figure:
        """A new matplotlib ``Figure`` of the diagram (not registered with pyplot)."""
        return draw(self)

    def to_svg(self) -> str:
        """The drawing as SVG text, the same bytes every time for the same model."""
        if self._svg is None:
            buffer = io.StringIO()
            self._save(buffer, "svg")
            self._svg = buffer.getvalue()
        return self._svg

    def _repr_svg_(self) -> str:
        return self.to_svg()

    def _save(self, target, fmt: str, dpi: float = 150) -> None:
        figure = self.figure()
        # No date and a fixed hash salt: the SVG does not change between runs, so a notebook
        # showing it passes nbval, and a diff shows only real changes.
        metadata = {"Date": None} if fmt == "svg" else {}
        with matplotlib.rc_context({"svg.hashsalt": SVG_HASH_SALT, "svg.fonttype": "none"}):
            figure.savefig(target, format=fmt, dpi=dpi, metadata=metadata)

    def save(self, path: str | Path, dpi: float = 150) -> Path:
        """Write the diagram to ``path``; its suffix chooses the format (``.svg`` or ``.png``).

        Returns the path written. ``dpi`` applies to PNG only.
        """
        path = Path(path)
        fmt = path.suffix.lower().lstrip(".")
        if fmt not in {"svg", "png"}:
            raise ValueError(f"Save a sharing diagram as .svg or .png, not {path.name!r}.")
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "svg":
            path.write_text(self.to_svg(), encoding="utf-8")
        else:
            with path.open("wb") as file:
                self._save(file, "png", dpi)
        return path

    def __repr__(self) -> str:
        counts = self.counts
        kinds = ", ".join(f"{counts[k]} {k}" for k in ("own", "shared", "tied"))
        if counts["unused"]:
            kinds += f", {counts['unused']} unused"
        noun = "variable" if len(self.variables) == 1 else "variables"
        if self.group == "layer":
            noun = "box" if len(self.variables) == 1 else "boxes"
        return (
            f"SharingDiagram({self.model_name!r}: {len(self.calls)} "
            f"{'call' if len(self.calls) == 1 else 'calls'}; {len(self.variables)} {noun}, "
            f"{self.total_params:,} parameters; {kinds})"
        )


def _barycentre_order(groups: list[list[VariableUse]], call_index: dict) -> list[list[VariableUse]]:
    """Variable groups sorted by the mean position of the calls that read them (fewer
    crossing lines); unused ones last; ties keep the model's order."""

    def key(item: tuple[int, list[VariableUse]]) -> tuple:
        position, members = item
        calls = members[0].calls
        if not calls:
            return (1, 0.0, position)
        return (0, sum(call_index[_call_key(c)] for c in calls) / len(calls), position)

    return [members for _, members in sorted(enumerate(groups), key=key)]


def sharing_diagram(model: keras.Model, *, group: Group = "variable") -> SharingDiagram:
    """Draw ``model``'s layer calls and the variables each one reads.

    Args:
        model: a model the helpers can inspect (see :func:`helpers.layer_calls`).
        group: ``"variable"`` draws every variable; ``"layer"`` draws one box per layer for
            the variables that the same calls read (a Dense's kernel and bias together,
            but a tied kernel apart from its layer's own bias).

    Returns:
        a :class:`SharingDiagram`; a notebook cell that ends with it shows the drawing.

    >>> import keras
    >>> x = keras.Input((6,))
    >>> h = keras.layers.Dense(3, name="encoder")(x)
    >>> d = sharing_diagram(keras.Model(x, keras.layers.Dense(6, name="decoder")(h)), group="layer")
    >>> [(n.label, n.detail) for n in d.variables]
    [('encoder', 'kernel, bias · 21 params'), ('decoder', 'kernel, bias · 24 params')]
    """
    if group not in ("variable", "layer"):
        raise ValueError(f"group must be 'variable' or 'layer', not {group!r}.")
    calls = layer_calls(model, nested=True)  # a call made inside another follows it
    call_index = {_call_key(c): i for i, c in enumerate(calls)}
    uses = variable_uses(model)
    for use in uses:  # a call the listing missed still gets a box, after the others
        for call in use.calls:
            if _call_key(call) not in call_index:
                call_index[_call_key(call)] = len(calls)
                calls.append(call)

    read_by_call = {key: 0 for key in call_index}
    for use in uses:
        for call in use.calls:
            read_by_call[_call_key(call)] += use.size
    call_nodes = []
    for i, call in enumerate(calls):
        read = read_by_call[_call_key(call)]
        detail = type(call.layer).__name__ + (
            f" · reads {_params(read)}" if read else " · no variables"
        )
        call_nodes.append(DiagramNode(f"call:{i}", "call", call.label, detail, read))

    groups = _variable_groups(uses, group)
    ordered = _barycentre_order(groups, call_index)
    variable_nodes, edges = [], []
    for index, members in enumerate(ordered):
        node = _variable_node(index, members, group)
        variable_nodes.append(node)
        targets = sorted({call_index[_call_key(c)] for c in members[0].calls})
        edges.extend(DiagramEdge(node.key, f"call:{t}", node.kind) for t in targets)
    return SharingDiagram(model.name, call_nodes, variable_nodes, edges, group)
