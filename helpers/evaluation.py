"""How often a model's outputs are right, per output, measured here rather than taken
from a number the model's owner reports.

An output with one unit is read as a probability (``sigmoid``): above 0.5 means 1. An
output with several units is read as class scores: the largest one is the answer. Targets
are 0/1 for the first kind and class numbers (or one-hot rows) for the second.

Example:
    >>> import keras, numpy as np
    >>> x = keras.Input((2,), name="x")
    >>> model = keras.Model(x, keras.layers.Dense(1, activation="sigmoid", name="positive")(x))
    >>> model.set_weights([np.array([[1.0], [0.0]]), np.array([0.0])])   # positive when x[0] > 0
    >>> accuracy(model, np.array([[1.0, 5.0], [-1.0, 5.0], [2.0, 0.0]]), np.array([1, 0, 0]))
    {'positive': 0.6666666666666666}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras
import numpy as np

from .analysis import analyse
from .operations import graph_of

__all__ = ["predict_outputs", "fraction_right", "accuracy", "majority_rate"]


def _output_names(model: keras.Model) -> list[str]:
    """Keras's output names, made unique: two outputs of one layer (``head(a)``,
    ``head(b)``) are named by their calls, ``"head[1]"`` and ``"head[2]"``, as the
    sharing report names those calls."""
    names = list(getattr(model, "output_names", None) or [model.name])
    repeated = {n for n in names if names.count(n) > 1}
    if not repeated:
        return names
    labels = _call_labels(model)
    unique = []
    for i, name in enumerate(names):
        if name in repeated:
            label = labels[i] if i < len(labels) else None
            name = (
                label if label and label not in unique else f"{name}[{names[:i].count(name) + 1}]"
            )
        unique.append(name)
    return unique


def _call_labels(model: keras.Model) -> list[str | None]:
    """The label of the call that produces each output of a functional model."""
    graph = graph_of(model)
    if graph is None:
        return []
    by_node = {id(call._node): call.label for call in analyse(model).calls}
    labels = []
    for tensor in graph.outputs:
        history = getattr(tensor, "_keras_history", None)
        node = history.operation._inbound_nodes[history.node_index] if history else None
        labels.append(by_node.get(id(node)))
    return labels


def predict_outputs(model: keras.Model, x: Any, batch_size: int = 1024) -> dict[str, np.ndarray]:
    """``{output name: predictions}`` of ``model`` on ``x`` (inference mode, in batches).

    Outputs are named as Keras names them: after the layer that produces them (or by the
    keys, for a model built with a dict of outputs). Two outputs of one layer are named
    after its calls (``"head[1]"``, ``"head[2]"``), so none is lost.
    """
    first = (
        next(iter(x.values()))
        if isinstance(x, Mapping)
        else (x[0] if isinstance(x, (list, tuple)) else x)
    )
    total = len(first)
    chunks: dict[str, list[np.ndarray]] = {}
    for start in range(0, total, batch_size):
        stop = min(start + batch_size, total)
        if isinstance(x, Mapping):
            batch = {k: v[start:stop] for k, v in x.items()}
        elif isinstance(x, (list, tuple)):
            batch = [v[start:stop] for v in x]
        else:
            batch = x[start:stop]
        out = model(batch, training=False)
        if isinstance(out, Mapping):
            named = dict(out)
        elif isinstance(out, (list, tuple)):
            # A model that has no output names names its first output only, after itself.
            named = dict(zip(_output_names(model), out, strict=False))
        else:
            named = {_output_names(model)[0]: out}
        for name, value in named.items():
            chunks.setdefault(name, []).append(keras.ops.convert_to_numpy(value))
    return {name: np.concatenate(parts) for name, parts in chunks.items()}


def _answers(predictions: np.ndarray) -> np.ndarray:
    predictions = np.asarray(predictions)
    if predictions.ndim == 1 or predictions.shape[-1] == 1:
        return (predictions.reshape(len(predictions)) > 0.5).astype("int64")
    return predictions.reshape(len(predictions), -1).argmax(axis=-1)


def _truth(targets: np.ndarray) -> np.ndarray:
    targets = np.asarray(targets)
    if targets.ndim == 2 and targets.shape[-1] > 1:
        return targets.argmax(axis=-1)  # one-hot rows
    return targets.reshape(len(targets)).astype("int64")


def fraction_right(predictions: Any, targets: Any) -> float:
    """The fraction of ``predictions`` (one output's, see the module docstring) that
    match ``targets``.

    >>> fraction_right(np.array([[0.9], [0.2], [0.7]]), np.array([1, 1, 1]))
    0.6666666666666666
    >>> fraction_right(np.array([[0.1, 0.9], [0.8, 0.2]]), np.array([1, 1]))
    0.5
    """
    answers, truth = _answers(predictions), _truth(targets)
    if len(answers) != len(truth):
        raise ValueError(f"{len(answers)} predictions but {len(truth)} targets")
    return float(np.mean(answers == truth))


def accuracy(model: keras.Model, x: Any, y: Any) -> dict[str, float]:
    """``{output name: fraction of examples right}`` for each output that ``y`` gives
    targets for (``y`` a dict keyed by output name, or one array for a one-output model).

    Raises ``KeyError`` naming the model's outputs when ``y`` names an output the model
    does not have.
    """
    predicted = predict_outputs(model, x)
    if not isinstance(y, Mapping):
        if len(predicted) != 1:
            raise ValueError(
                f"{model.name!r} has {len(predicted)} outputs; give y as a dict keyed by "
                f"output name ({', '.join(repr(n) for n in predicted)})"
            )
        y = {next(iter(predicted)): y}
    missing = [name for name in y if name not in predicted]
    if missing:
        raise KeyError(
            f"{model.name!r} has no output named {', '.join(repr(n) for n in missing)}; "
            f"its outputs are {', '.join(repr(n) for n in predicted)}"
        )
    return {name: fraction_right(predicted[name], targets) for name, targets in y.items()}


def majority_rate(targets: Any) -> float:
    """The accuracy of always giving the most common answer: the score to beat.

    >>> majority_rate(np.array([0, 0, 0, 1]))
    0.75
    """
    truth = _truth(np.asarray(targets))
    return float(np.bincount(truth).max() / len(truth))
