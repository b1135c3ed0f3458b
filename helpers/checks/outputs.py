"""Checks of what a model gives out: the shape of its outputs and the names of its inputs
and outputs (what a ``dict`` of data or targets is matched by).

Example:
    >>> import keras
    >>> x = keras.Input((3,), name="pixels")
    >>> model = keras.Model(x, keras.layers.Dense(1, name="score")(x), name="scorer")
    >>> assert_output_shape(model, (None, 1))
    >>> assert_io_names(model, inputs=["pixels"], outputs=["score"])
    >>> assert_output_shape(model, (None, 2))
    Traceback (most recent call last):
    ...
    helpers.checks.CheckFailed: 'scorer' should output shape (None, 2), but it outputs (None, 1).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from ..analysis import analyse
from ._common import fail, graded, is_functional

__all__ = ["assert_output_shape", "assert_io_names"]


def _shape_or_shapes(shape) -> tuple | list[tuple]:
    """A shape as a tuple, or several outputs' shapes as a list of tuples."""
    if (
        isinstance(shape, (list, tuple))
        and shape
        and all(isinstance(s, (list, tuple)) for s in shape)
    ):
        return [tuple(s) for s in shape]  # several outputs
    return tuple(shape)


@graded
def assert_output_shape(
    model: keras.Model, expected: tuple | list[tuple], *, hint: str | None = None
) -> None:
    """The model's output shape (batch dimension ``None``) is ``expected``; for several
    outputs, a list of shapes."""
    __tracebackhide__ = True
    if is_functional(model):
        actual = _shape_or_shapes(model.output_shape)
    else:  # a subclassed model: the shapes its traced call returned
        shapes = analyse(model).output_shapes
        actual = _shape_or_shapes(shapes if len(shapes) > 1 else shapes[0])
    if actual == _shape_or_shapes(expected):
        return
    fail(
        f"{model.name!r} should output shape {_shape_or_shapes(expected)}, but it outputs "
        f"{actual}.",
        hint,
    )


@graded
def assert_io_names(
    model: keras.Model,
    inputs: Sequence[str] | None = None,
    outputs: Sequence[str] | None = None,
    *,
    hint: str | None = None,
) -> None:
    """The model's inputs and outputs have exactly these names, in this order. Inputs take
    the ``name=`` of their ``keras.Input``; outputs the name of the layer that makes them.

    >>> import keras
    >>> x = keras.Input((3,), name="pixels")
    >>> model = keras.Model(x, keras.layers.Dense(1, name="score")(x))
    >>> assert_io_names(model, inputs=["pixels"], outputs=["score"])      # passes
    >>> assert_io_names(model, outputs=["label"])
    Traceback (most recent call last):
    ...
    helpers.checks.CheckFailed: The model's outputs should be named ['label'] (in this
    order), but they are ['score']. An output is named after the layer that produces it:
    give that layer name=.
    """
    __tracebackhide__ = True
    problems = []
    if not is_functional(model):
        fail(
            f"{model.name!r} is a subclassed model: its inputs and outputs have no names. Build "
            "it as a functional model, keras.Model(inputs, outputs), with named keras.Input(...) "
            "and named output layers.",
            hint,
        )
    if inputs is not None:
        actual = [t.name for t in model.inputs]
        if actual != list(inputs):
            problems.append(
                f"The model's inputs should be named {list(inputs)} (in this order), but they are "
                f"{actual}. Give each keras.Input(...) its name= and pass them to keras.Model in "
                "that order."
            )
    if outputs is not None:
        actual = list(getattr(model, "output_names", None) or [])
        if actual != list(outputs):
            problems.append(
                f"The model's outputs should be named {list(outputs)} (in this order), but they "
                f"are {actual}. An output is named after the layer that produces it: give that "
                "layer name=."
            )
    if problems:
        fail("\n".join(problems), hint)
