"""Gradients of a shared variable, split by the layer call that used it.

When one variable is used by two calls (a layer called on two inputs, or two tied
layers), the gradient of the loss with respect to it is the *sum* of what each use
contributes. :func:`gradients_by_call` measures each contribution separately, so a
notebook can show that the sum is exactly the gradient Keras applies.

It works by running the model call by call; during each call that reads the variable,
the variable's value is replaced by a stand-in tensor of the same value that belongs to
that call only. The gradient with respect to a stand-in is that call's contribution.

Example:
    >>> import keras, numpy as np
    >>> a, b = keras.Input((2,)), keras.Input((2,))
    >>> shared = keras.layers.Dense(1, use_bias=False, kernel_initializer="ones", name="shared")
    >>> model = keras.Model([a, b], keras.layers.Add()([shared(a), shared(b)]))
    >>> x = [np.array([[1.0, 2.0]]), np.array([[10.0, 20.0]])]
    >>> loss = lambda out: keras.ops.sum(out)
    >>> parts = gradients_by_call(model, shared.kernel, x, loss)
    >>> {k: v.ravel().tolist() for k, v in parts.items()}
    {'shared[1]': [1.0, 2.0], 'shared[2]': [10.0, 20.0]}
    >>> gradient(model, shared.kernel, x, loss).ravel().tolist()
    [11.0, 22.0]
"""

from __future__ import annotations

import contextlib
from typing import Callable

import keras
import numpy as np
from keras.src.backend.common.stateless_scope import StatelessScope

from .calls import layer_calls
from .variables import variable_id, variable_uses

__all__ = ["gradient", "gradients_by_call", "contributions_add_up"]

Loss = Callable[..., object]


def _tape():
    if keras.backend.backend() != "tensorflow":
        raise NotImplementedError("gradients_by_call needs the TensorFlow backend.")
    import tensorflow as tf

    return tf


def _dense(grad, variable: keras.Variable) -> np.ndarray:
    """A gradient as a plain array of the variable's shape. An embedding lookup's gradient
    comes back as ``IndexedSlices`` (only the rows looked up); ``None`` means the loss
    does not depend on the variable (all zeros)."""
    if grad is None:
        return np.zeros(tuple(variable.shape), dtype=variable.dtype)
    return np.asarray(_tape().convert_to_tensor(grad))


def _run_graph(model: keras.Model, inputs, scope_for) -> list:
    """Evaluate the model's graph one layer call at a time, entering ``scope_for(call)``
    around each call."""
    flat_inputs = keras.tree.flatten(inputs)
    values = {id(x): keras.ops.convert_to_tensor(y, dtype=x.dtype)
              for x, y in zip(model.inputs, flat_inputs)}
    for call in layer_calls(model):
        args, kwargs = call._node.arguments.fill_in(values)
        with scope_for(call):
            outputs = call.layer(*args, **kwargs)
        for symbolic, value in zip(call._node.outputs, keras.tree.flatten(outputs)):
            values[id(symbolic)] = value
    outputs = [values[id(x)] for x in model.outputs]
    return outputs[0] if len(outputs) == 1 else outputs


def gradients_by_call(
    model: keras.Model, variable: keras.Variable, inputs, loss: Loss
) -> dict[str, np.ndarray]:
    """``{call label: gradient}``: how much each layer call that reads ``variable``
    contributes to the gradient of ``loss(model outputs)``. Their sum is
    :func:`gradient` of the same loss.

    Args:
        model: a functional or Sequential model.
        variable: one of the model's variables, e.g. ``model.get_layer("encoder").kernel``.
        inputs: what you would pass to ``model(...)``.
        loss: a function of the model's output(s) returning a scalar, e.g.
            ``lambda out: keras.ops.mean((out - y) ** 2)``.
    """
    tf = _tape()
    readers = next((u.calls for u in variable_uses(model)
                    if variable_id(u.variable) == variable_id(variable)), None)
    if not readers:
        raise ValueError(f"No layer call of {model.name!r} reads the variable {variable.path!r}.")
    stand_ins = {id(call._node): tf.identity(variable.value) for call in readers}

    def scope_for(call):
        if id(call._node) in stand_ins:
            return StatelessScope(state_mapping=[(variable, stand_ins[id(call._node)])])
        return contextlib.nullcontext()

    with tf.GradientTape() as tape:
        for tensor in stand_ins.values():
            tape.watch(tensor)
        value = loss(_run_graph(model, inputs, scope_for))
    grads = tape.gradient(value, [stand_ins[id(c._node)] for c in readers])
    return {call.label: _dense(g, variable) for call, g in zip(readers, grads)}


def gradient(model: keras.Model, variable: keras.Variable, inputs, loss: Loss) -> np.ndarray:
    """The gradient of ``loss(model(inputs))`` with respect to ``variable``: what an
    optimizer step uses (plain SGD moves the variable by ``-learning_rate * gradient``)."""
    tf = _tape()
    with tf.GradientTape() as tape:
        tape.watch(variable.value)
        value = loss(model(inputs, training=False))
    return _dense(tape.gradient(value, variable.value), variable)


def contributions_add_up(
    model: keras.Model, variable: keras.Variable, inputs, loss: Loss, atol: float = 1e-5
) -> bool:
    """``True`` when the per-call contributions add up to the full gradient."""
    parts = gradients_by_call(model, variable, inputs, loss)
    return bool(np.allclose(sum(parts.values()), gradient(model, variable, inputs, loss), atol=atol))
