"""What every check module shares: the failure a check raises, the wrapper that turns the
helpers' own errors into one, finding a layer by name, and the small phrases the messages
are built from. Private: the checks themselves are public in :mod:`helpers.checks`.

Example:
    >>> plural(1, "time"), plural(3, "time")
    ('1 time', '3 times')
    >>> is_whole_number(3), is_whole_number(True), is_whole_number(2.0)
    (True, False, False)
    >>> fail("Layer 'x' is not shared.", hint="call it twice")
    Traceback (most recent call last):
    ...
    helpers.checks.CheckFailed: Layer 'x' is not shared.
    Hint: call it twice
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from numbers import Integral
from typing import Any, NoReturn

import keras

from ..analysis import InspectionError, graph_of
from ..calls import call_counts, resolve_layer

__all__ = [
    "CheckFailed",
    "LayerRef",
    "describe_variables",
    "fail",
    "find_layer",
    "graded",
    "is_functional",
    "is_whole_number",
    "plural",
    "type_name",
    "weight_shapes",
]

#: A layer of the model, or its name.
LayerRef = str | keras.layers.Layer

#: What a message adds when a layer name is not found.
NAME_ADVICE = "Check the name= you gave each layer."


class CheckFailed(AssertionError):
    """An exercise check that failed. The message explains what to change.

    In a notebook it shows as ``CheckFailed: <message>`` alone: the lines of helper code
    that raised it would only distract from what to change in the model.
    """

    def _render_traceback_(self) -> list[str]:  # IPython's hook for custom tracebacks
        return [f"{type(self).__name__}: {self}"]


# Tracebacks and reprs name it where learners import it from (helpers.checks, or the
# same package in a pristine copy), not this private module.
CheckFailed.__module__ = __name__.rpartition(".")[0]


def _with_hint(message: str, hint: str | None) -> str:
    return message + (f"\nHint: {hint}" if hint else "")


def fail(message: str, hint: str | None = None) -> NoReturn:
    """Raise :class:`CheckFailed` with ``message`` and, when given, a ``Hint:`` line."""
    __tracebackhide__ = True  # IPython and pytest show the message, not helper internals
    raise CheckFailed(_with_hint(message, hint))


def graded(check: Callable) -> Callable:
    """``check`` with the helpers' own failures (a layer they cannot run, a model never
    built) turned into a failed check that says so, instead of a traceback."""

    @functools.wraps(check)
    def run(*args, **kwargs):
        __tracebackhide__ = True
        try:
            return check(*args, **kwargs)
        except InspectionError as error:
            raise CheckFailed(_with_hint(str(error), kwargs.get("hint"))) from None

    return run


def find_layer(model: keras.Model, ref: LayerRef) -> keras.layers.Layer:
    """The layer ``ref`` of ``model``; a failed check that names the model's reused layers
    when there is none (a learner looking for ``encoder_2`` often called ``encoder`` twice)."""
    __tracebackhide__ = True
    try:
        return resolve_layer(model, ref)
    except LookupError as error:
        message = f"{error} {NAME_ADVICE}"
        reused = {name: n for name, n in call_counts(model).items() if n > 1}
        if reused:
            message += (
                " Note: "
                + "; ".join(
                    f"{name!r} is called {n} times (one layer object, one set of weights, used on "
                    f"{n} inputs)"
                    for name, n in reused.items()
                )
                + "."
            )
        fail(message)


def describe_variables(variables: Sequence[keras.Variable]) -> str:
    """``"d/kernel (3, 2), d/bias (2,)"``, or ``"no variables"``."""
    if not variables:
        return "no variables"
    return ", ".join(f"{v.path} {tuple(v.shape)}" for v in variables)


def weight_shapes(layer: keras.layers.Layer) -> list[tuple]:
    """The shapes of ``layer.weights``, in order."""
    return [tuple(w.shape) for w in layer.weights]


def plural(n: int, word: str) -> str:
    """``"1 time"``, ``"2 times"``."""
    return f"{n} {word}" + ("" if n == 1 else "s")


def is_whole_number(value: Any) -> bool:
    """An integer of any kind (``int``, NumPy's), but not ``True``/``False``."""
    return isinstance(value, Integral) and not isinstance(value, bool)


def type_name(value: Any) -> str:
    """The name of ``value``'s type, as a message shows it (``None`` for ``None``)."""
    return "None" if value is None else type(value).__name__


def is_functional(model: keras.Model) -> bool:
    """``model`` is a graph of layers (functional, or Sequential with an input), not a
    subclassed model whose calls happen only when it runs."""
    return graph_of(model) is not None
