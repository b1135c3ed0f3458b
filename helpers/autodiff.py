"""One function for gradients on every Keras backend: TensorFlow's ``GradientTape``, JAX's
``jax.value_and_grad`` and PyTorch's autograd behind the same call.

Example:
    >>> import keras, numpy as np
    >>> square_sum = lambda ts: keras.ops.sum(ts[0] ** 2)
    >>> value, (grad,) = value_and_grads(square_sum, [np.array([1.0, 2.0])])
    >>> float(value), grad.tolist()
    (5.0, [2.0, 4.0])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
import numpy as np

__all__ = ["value_and_grads"]


def value_and_grads(
    fn: Callable[[list], object], values: Sequence
) -> tuple[float, list[np.ndarray]]:
    """``fn(tensors)`` (a scalar) and its gradient with respect to each of ``tensors``, which
    start as copies of ``values``. Gradients come back as NumPy arrays of the values' shapes
    (zeros where ``fn`` does not depend on a tensor)."""
    backend = keras.backend.backend()
    if not values:
        return float(keras.ops.convert_to_numpy(fn([]))), []
    tensors = [keras.ops.convert_to_tensor(v) for v in values]
    if backend == "tensorflow":
        import tensorflow as tf

        tensors = [tf.identity(t) for t in tensors]
        with tf.GradientTape() as tape:
            for t in tensors:
                tape.watch(t)
            value = fn(tensors)
        grads = tape.gradient(value, tensors)
        # An embedding lookup's gradient is IndexedSlices (the rows looked up): make it dense.
        grads = [None if g is None else tf.convert_to_tensor(g) for g in grads]
    elif backend == "jax":
        import jax

        value, grads = jax.value_and_grad(fn)(list(tensors))
    elif backend == "torch":
        import torch

        tensors = [t.detach().clone().requires_grad_(True) for t in tensors]
        value = fn(tensors)
        grads = torch.autograd.grad(value, tensors, allow_unused=True)
    else:
        raise NotImplementedError(
            "The gradient helpers work on the TensorFlow, JAX and PyTorch backends, "
            f"not {backend!r}."
        )
    arrays = [
        np.zeros(tuple(t.shape), dtype=keras.backend.standardize_dtype(t.dtype))
        if g is None
        else np.asarray(keras.ops.convert_to_numpy(g))
        for t, g in zip(tensors, grads, strict=True)
    ]
    return float(keras.ops.convert_to_numpy(value)), arrays
