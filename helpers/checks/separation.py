"""Checks that layers do NOT share weights: two layers with variables of their own, and two
independent copies of one architecture (same design, separate weights).

Example:
    >>> import keras
    >>> a, b = keras.Input((4,)), keras.Input((4,))
    >>> left, right = keras.layers.Dense(3, name="left"), keras.layers.Dense(3, name="right")
    >>> model = keras.Model([a, b], [left(a), right(b)])
    >>> assert_not_shared(model, "left", "right")        # two layers, two sets of weights
    >>> assert_separate_copies(model, "left", "right")   # and built alike
"""

from __future__ import annotations

import keras

from ..calls import call_counts
from ..params import count_params
from ..sharing import config_differences, same_architecture, shared_variables
from ._common import (
    LayerRef,
    describe_variables,
    fail,
    find_layer,
    graded,
    plural,
    weight_shapes,
)

__all__ = ["assert_not_shared", "assert_separate_copies"]


@graded
def assert_not_shared(
    model: keras.Model, a: LayerRef, b: LayerRef, *, hint: str | None = None
) -> None:
    """Layers ``a`` and ``b`` of ``model`` have no variable in common."""
    __tracebackhide__ = True
    layer_a, layer_b = find_layer(model, a), find_layer(model, b)
    if layer_a is layer_b:
        fail(
            f"{layer_a.name!r} and {layer_b.name!r} should be two layers with separate weights, "
            "but they are one "
            f"layer object called {plural(call_counts(model).get(layer_a.name, 0), 'time')}: "
            "every call uses the same variables. Create a new layer for each use "
            "(call your block-building function again).",
            hint,
        )
    common = shared_variables(model, layer_a, layer_b)
    if common:
        fail(
            f"Layers {layer_a.name!r} and {layer_b.name!r} should have separate weights, but "
            f"they use the same {plural(len(common), 'variable')}: {describe_variables(common)}. "
            "Whatever trains one changes the other. Give each its own layers.",
            hint,
        )


@graded
def assert_separate_copies(
    model: keras.Model, a: LayerRef, b: LayerRef, *, hint: str | None = None
) -> None:
    """``a`` and ``b`` (layers or sub-models) have the same architecture and no variable
    in common: two independent copies of one design."""
    __tracebackhide__ = True
    layer_a, layer_b = find_layer(model, a), find_layer(model, b)
    assert_not_shared(model, layer_a, layer_b, hint=hint)
    if same_architecture(layer_a, layer_b):
        return
    settings = config_differences(layer_a, layer_b)
    same_shapes = weight_shapes(layer_a) == weight_shapes(layer_b)
    if type(layer_a) is type(layer_b) and same_shapes and settings:
        # Same kind, same variables: only settings such as the activation tell them apart.
        fail(
            f"{layer_a.name!r} and {layer_b.name!r} should be copies of one architecture, "
            f"but their settings differ: "
            + "; ".join(
                f"{key} is {va!r} in {layer_a.name!r} and {vb!r} in {layer_b.name!r}"
                for key, (va, vb) in settings.items()
            )
            + ". Build both with the same code and the same settings.",
            hint,
        )
    fail(
        f"{layer_a.name!r} and {layer_b.name!r} should be copies of one architecture, "
        f"but they differ: {layer_a.name!r} is a {type(layer_a).__name__} with "
        f"{count_params(layer_a):,} parameters in variables of shapes "
        f"{weight_shapes(layer_a)}; {layer_b.name!r} is a "
        f"{type(layer_b).__name__} with {count_params(layer_b):,} parameters in variables "
        f"of shapes {weight_shapes(layer_b)}. Build both with the "
        "same code and the same settings.",
        hint,
    )
