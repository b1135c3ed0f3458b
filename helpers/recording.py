"""How each model was first called: the shapes and dtypes of its arguments.

A subclassed model has no graph, so the helpers run it once on zeros to see its layer
calls, and need arguments of the right kind. Keras records only the shape of a model's
*first* argument (``_build_shapes_dict``), which is not enough for ``call(self, a, b)``.
Once :func:`install` has run (importing :mod:`helpers` does it), the first call of every
model from then on (built before or not) records the structure of its positional and
keyword arguments (tensors as ``keras.KerasTensor`` specs, flags as they are) on it.

Example:
    >>> import keras, numpy as np
    >>> install()
    >>> class Pair(keras.Model):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.d = keras.layers.Dense(2)
    ...     def call(self, a, b):
    ...         return self.d(a) + self.d(b)
    >>> model = Pair()
    >>> _ = model(np.zeros((3, 4)), np.zeros((3, 4)))
    >>> args, kwargs = recorded_call(model)
    >>> [tuple(a.shape) for a in args], kwargs
    ([(3, 4), (3, 4)], {})
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from typing import Any

import keras

__all__ = ["install", "paused", "recorded_call"]

_ATTRIBUTE = "_helpers_first_call"
_PAUSED = [0]  # > 0 while the helpers themselves run a model (on zeros): nothing recorded


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """No call is recorded inside this block (the helpers' own runs of a model)."""
    _PAUSED[0] += 1
    try:
        yield
    finally:
        _PAUSED[0] -= 1


def _spec(value: Any) -> Any:
    """A tensor or array as a ``KerasTensor`` of its shape and dtype (the data is not kept);
    anything else (a flag, ``None``) as it is."""
    if isinstance(value, keras.Variable) or not (
        hasattr(value, "shape") and hasattr(value, "dtype")
    ):
        return value
    shape = tuple(int(d) for d in value.shape)
    return keras.KerasTensor(shape, dtype=keras.backend.standardize_dtype(value.dtype))


def install() -> None:
    """Record the next call of every model not recorded yet (idempotent). ``Model``
    inherits ``__call__`` from ``Layer``; this gives it one that records, then runs
    ``Layer.__call__``."""
    if getattr(keras.Model.__call__, "_helpers_records", False):
        return

    @functools.wraps(keras.layers.Layer.__call__)
    def call(self, *args, **kwargs):
        if not _PAUSED[0] and not hasattr(self, _ATTRIBUTE):
            try:
                spec = keras.tree.map_structure(_spec, (args, kwargs))
                object.__setattr__(self, _ATTRIBUTE, spec)
            except Exception:  # noqa: BLE001 - recording must never break a model's call
                pass
        # Looked up on each call: code that wraps Layer.__call__ later still sees models.
        return keras.layers.Layer.__call__(self, *args, **kwargs)

    call._helpers_records = True
    keras.Model.__call__ = call


def recorded_call(model: keras.Model) -> tuple[tuple, dict] | None:
    """``(args, kwargs)`` of the model's first call as specs, or ``None`` when not recorded."""
    return getattr(model, _ATTRIBUTE, None)
