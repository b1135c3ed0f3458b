"""Running a model call by call: a context of the caller's choice around each layer call.

Example: see :func:`run_calls`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras

from .analysis import Call, analyse, graph_of
from .tracing import InspectionError, descends

__all__ = ["run_calls"]


def run_calls(
    model: keras.Model,
    inputs: Any,
    around: Callable[[Call], Any],
    training: bool | None = None,
) -> Any:
    """Run ``model`` on ``inputs`` (like ``model(inputs, training=training)``) and enter
    the context manager ``around(call)`` while each layer call runs: the model's own calls
    and the calls nested in them, each given as the :class:`Call` that :func:`analyse`
    reports. Returns the model's outputs. For example, a ``StatelessScope`` that maps a
    variable to a stand-in tensor during one call only gives that call's share of a gradient.

    Operations in a graph (``a - b``) run as they are. A model that makes other calls than
    when it was analysed (a branch on the data) raises an :class:`InspectionError`.

    >>> import contextlib, keras, numpy as np
    >>> x = keras.Input((2,))
    >>> dense = keras.layers.Dense(2, name="d")
    >>> model = keras.Model(x, dense(x) - dense(x))
    >>> seen = []
    >>> def around(call):
    ...     seen.append(call.label)
    ...     return contextlib.nullcontext()
    >>> _ = run_calls(model, np.ones((1, 2)), around)
    >>> seen
    ['d[1]', 'd[2]']
    """
    analysis = analyse(model)
    subtree: dict[int, list[Call]] = {}
    for call in analysis.nested:
        subtree.setdefault(id(call.top), []).append(call)
    pending: list[Call] = []
    original = keras.Layer.__call__

    def next_call(layer) -> Call | None:
        if not pending:
            return None
        call = pending.pop(0)
        if call.layer is not layer:
            raise InspectionError(
                f"{model.name!r} called {layer.name!r} where {call.label!r} was expected: it "
                "makes other layer calls on these inputs than on zeros, so its calls cannot be "
                "told apart."
            )
        return call

    depth: list[bool] = []

    def traced_call(layer, *args, **kwargs):
        if (depth and depth[-1]) or (layer is model and not depth):
            # inside one of Keras's own layers, or the model's own call: not one of its calls
            depth.append(layer is not model)
            try:
                return original(layer, *args, **kwargs)
            finally:
                depth.pop()
        call = next_call(layer)
        depth.append(call is None or not descends(layer))
        try:
            if call is None:
                return original(layer, *args, **kwargs)
            with around(call):
                return original(layer, *args, **kwargs)
        finally:
            depth.pop()

    graph = graph_of(model)
    keras.Layer.__call__ = traced_call
    try:
        if graph is None:
            pending.extend(analysis.nested)
            return model(inputs, training=training)
        return _run_graph(graph, analysis, subtree, pending, inputs, around, training)
    finally:
        keras.Layer.__call__ = original


def _run_graph(
    graph: Any,
    analysis: Any,
    subtree: dict[int, list[Call]],
    pending: list[Call],
    inputs: Any,
    around: Callable[[Call], Any],
    training: bool | None,
) -> Any:
    """Run a functional model's graph node by node, as ``Functional.call`` does: around each
    operation that reads a variable, ``around(call)``; before each layer call, its nested
    calls put in ``pending`` for the traced ``Layer.__call__``."""
    by_node = {id(c._node): c for c in analysis.calls}
    values = {
        id(x): keras.ops.convert_to_tensor(y, dtype=x.dtype)
        for x, y in zip(graph.inputs, keras.tree.flatten(inputs), strict=True)
    }
    for _, nodes in sorted(graph._nodes_by_depth.items(), reverse=True):
        for node in nodes:
            if node.is_input:
                continue
            args, kwargs = node.arguments.fill_in(values)
            top = by_node.get(id(node))
            if top is not None and top.is_operation:  # an operation reading a variable
                with around(top):
                    outputs = node.operation(*args, **kwargs)
            else:
                if top is not None:
                    pending[:] = subtree[id(top)]
                    if training is not None and top.layer._call_has_training_arg:
                        kwargs["training"] = training  # as Functional.call does
                outputs = node.operation(*args, **kwargs)
            for symbolic, value in zip(node.outputs, keras.tree.flatten(outputs), strict=True):
                values[id(symbolic)] = value
    outputs = [values[id(x)] for x in graph.outputs]
    return keras.tree.pack_sequence_as(graph._outputs_struct, outputs)
