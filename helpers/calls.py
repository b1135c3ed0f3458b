"""Layer calls: how often each layer of a model is used.

A functional model is a graph. Each time you call a layer on a symbolic tensor, Keras
records a *node* (a call) in that graph; a subclassed model makes its calls while ``call``
runs. One layer object can have several calls; all of them use the same variables.

Example:
    >>> import keras
    >>> a, b = keras.Input((4,)), keras.Input((4,))
    >>> encoder = keras.layers.Dense(3, name="encoder")
    >>> model = keras.Model([a, b], [encoder(a), encoder(b)], name="siamese")
    >>> call_counts(model)
    {'encoder': 2}
"""

from __future__ import annotations

import keras

from .analysis import Call, analyse

__all__ = ["Call", "layer_calls", "call_counts", "resolve_layer"]


def layer_calls(model: keras.Model, nested: bool = False) -> list[Call]:
    """Every layer call the model makes, in the order data flows (inputs first).

    Functional, Sequential and subclassed models alike. Inputs are not calls, and neither
    are operations that own no variables (``a - b``, ``keras.ops.concatenate``). A layer
    used in two models only counts the calls made in this one. With ``nested=True`` the
    calls made inside each call follow it (a custom layer applying its inner ``Dense``
    twice: ``pair``, ``pair/inner[1]``, ``pair/inner[2]``).

    Raises:
        helpers.analysis.InspectionError: a layer cannot be run, or the model was never built.
    """
    analysis = analyse(model)
    return list(analysis.nested if nested else analysis.calls)


def call_counts(model: keras.Model) -> dict[str, int]:
    """``{layer name: number of calls}`` for every layer the model calls (inputs and
    operations such as ``a - b`` excluded; calls made inside a layer count for that layer)."""
    counts: dict[str, int] = {}
    for call in layer_calls(model):
        counts[call.layer.name] = call.of
    return counts


def resolve_layer(model: keras.Model, layer: str | keras.layers.Layer) -> keras.layers.Layer:
    """The layer of ``model`` named ``layer`` (or ``layer`` itself, checked to be in the model).

    Raises a ``LookupError`` listing the model's layer names when there is no such layer,
    so a typo in a name reads as such.
    """
    names = [known.name for known in model.layers]
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
