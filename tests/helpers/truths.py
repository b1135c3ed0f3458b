"""The truth about a model, worked out WITHOUT the helpers: Keras's own ``count_params``,
variable identity, finite differences, and whether a model's output follows a new value of a
variable (a live read, a tie) or not (no read, or a frozen copy made when the graph was built).
"""

from __future__ import annotations

import keras
import numpy as np


def outputs(model: keras.Model, inputs) -> list[np.ndarray]:
    out = model(inputs, training=False)
    return [np.asarray(keras.ops.convert_to_numpy(t)) for t in keras.tree.flatten(out)]


def follows(model: keras.Model, variable: keras.Variable, inputs) -> bool:
    """Whether the model's output changes when ``variable`` gets a new value (restored after)."""
    before = outputs(model, inputs)
    old = np.array(keras.ops.convert_to_numpy(variable.value))
    rng = np.random.default_rng(0)
    variable.assign(old + rng.normal(1.0, 0.5, size=old.shape).astype(old.dtype))
    try:
        after = outputs(model, inputs)
    finally:
        variable.assign(old)
    return any(not np.allclose(a, b, atol=1e-6) for a, b in zip(before, after, strict=True))


def readers_by_path(model: keras.Model, inputs) -> dict[str, bool]:
    """``{variable path: the output follows it}`` for every trainable variable of the model."""
    return {v.path: follows(model, v, inputs) for v in model.trainable_weights}


def finite_difference(model, variable, inputs, loss, eps: float = 1e-3) -> np.ndarray:
    """The gradient of ``loss(model(inputs))`` with respect to ``variable``, by central
    differences (float64 where the backend computes it, else float32 with a larger eps)."""
    old = np.array(keras.ops.convert_to_numpy(variable.value))
    grad = np.zeros_like(old, dtype=float)

    def value(v):
        variable.assign(v)
        out = model(inputs, training=False)
        return float(keras.ops.convert_to_numpy(loss(out)))

    try:
        for index in np.ndindex(old.shape):
            up, down = old.copy(), old.copy()
            up[index] += eps
            down[index] -= eps
            grad[index] = (value(up) - value(down)) / (2 * eps)
    finally:
        variable.assign(old)
    return grad
