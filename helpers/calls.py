"""Layer calls: how often each layer of a functional model is used.

A functional model is a graph. Each time you call a layer on a symbolic tensor, Keras
records a *node* (a call) in that graph. One layer object can have several calls; all of
them use the same variables.

Example:
    >>> import keras
    >>> a, b = keras.Input((4,)), keras.Input((4,))
    >>> encoder = keras.layers.Dense(3, name="encoder")
    >>> model = keras.Model([a, b], [encoder(a), encoder(b)], name="siamese")
    >>> call_counts(model)
    {'encoder': 2}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import keras

__all__ = ["Call", "layer_calls", "call_counts", "resolve_layer"]


@dataclass(frozen=True, eq=False)
class Call:
    """One call of a layer inside a model.

    Attributes:
        layer: the layer object that was called.
        number: 1 for the layer's first call in this model, 2 for the second, ...
        of: how many times the layer is called in this model.
    """

    layer: keras.layers.Layer
    number: int
    of: int
    _node: Any = field(repr=False)

    @property
    def label(self) -> str:
        """``"encoder"`` for a layer called once, ``"encoder[2]"`` for its second call."""
        return self.layer.name if self.of == 1 else f"{self.layer.name}[{self.number}]"

    @property
    def input_shapes(self) -> list[tuple]:
        """Shapes of the tensors this call received (``None`` is the batch size)."""
        return [tuple(t.shape) for t in keras.tree.flatten(self._node.arguments.args)
                if isinstance(t, keras.KerasTensor)]

    @property
    def output_shapes(self) -> list[tuple]:
        """Shapes of the tensors this call returned."""
        return [tuple(t.shape) for t in self._node.output_tensors]

    def replay_arguments(self) -> tuple[tuple, dict]:
        """The call's positional and keyword arguments, with every symbolic tensor replaced
        by zeros of the same shape (unknown dimensions become 2). Flags such as
        ``reverse=True`` are kept, so replaying the call runs the same code path."""

        def concrete(value):
            if isinstance(value, keras.KerasTensor):
                shape = [2 if dim is None else dim for dim in value.shape]
                return keras.ops.zeros(shape, dtype=value.dtype)
            return value

        args = keras.tree.map_structure(concrete, tuple(self._node.arguments.args))
        kwargs = keras.tree.map_structure(concrete, dict(self._node.arguments.kwargs))
        return args, kwargs

    def __repr__(self) -> str:
        return f"Call({self.label})"


def _depths(model: keras.Model) -> list[tuple[int, list]]:
    """``(depth, nodes)`` pairs of a functional (or Sequential) model; inputs are deepest."""
    graph = getattr(model, "_functional", None) or model  # Sequential wraps a Functional
    by_depth = getattr(graph, "_nodes_by_depth", None)
    if by_depth is None:
        raise TypeError(
            f"{model.name!r} has no layer graph to inspect. The helpers need a functional "
            "model (keras.Model(inputs, outputs)) or a Sequential model that starts with "
            "keras.Input(...)."
        )
    return sorted(by_depth.items(), reverse=True)


def _graph_nodes(model: keras.Model) -> list:
    """The nodes of a functional (or Sequential) model, from inputs to outputs."""
    return [node for _, nodes in _depths(model) for node in nodes]


def layer_calls(model: keras.Model) -> list[Call]:
    """Every layer call in ``model``, in the order data flows (inputs first).

    Input placeholders are not calls and are left out. A layer used in two models only
    counts the calls made in this one.
    """
    nodes = [n for n in _graph_nodes(model) if not n.is_input]
    depth = {id(n): d for d, layer_nodes in _depths(model) for n in layer_nodes}
    per_layer: dict[int, list] = {}
    for node in nodes:
        per_layer.setdefault(id(node.operation), []).append(node)
    for layer_nodes in per_layer.values():
        # Number calls in the order they were made.
        layer_nodes.sort(key=lambda n: n.operation._inbound_nodes.index(n))
    calls = []
    for node in nodes:
        siblings = per_layer[id(node.operation)]
        calls.append(Call(node.operation, siblings.index(node) + 1, len(siblings), node))
    # Data-flow order; calls at the same depth (two branches) in the order they were made.
    calls.sort(key=lambda c: (-depth[id(c._node)], c.number))
    return calls


def call_counts(model: keras.Model) -> dict[str, int]:
    """``{layer name: number of calls}`` for every layer of ``model`` (inputs excluded)."""
    counts: dict[str, int] = {}
    for call in layer_calls(model):
        counts[call.layer.name] = call.of
    return counts


def resolve_layer(model: keras.Model, layer: str | keras.layers.Layer) -> keras.layers.Layer:
    """The layer of ``model`` named ``layer`` (or ``layer`` itself, checked to be in the model).

    Raises a ``LookupError`` listing the model's layer names when there is no such layer,
    so a typo in a name reads as such.
    """
    names = [l.name for l in model.layers]
    if isinstance(layer, str):
        for candidate in model.layers:
            if candidate.name == layer:
                return candidate
        raise LookupError(
            f"The model {model.name!r} has no layer named {layer!r}. "
            f"Its layers are: {', '.join(repr(n) for n in names)}."
        )
    if not any(candidate is layer for candidate in model.layers):
        raise LookupError(
            f"The layer {layer.name!r} is not one of the layers of model {model.name!r} "
            f"({', '.join(repr(n) for n in names)})."
        )
    return layer
