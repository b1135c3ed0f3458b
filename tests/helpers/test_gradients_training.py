"""helpers.gradients in training mode: exact splits through BatchNormalization and Dropout,
the very gradient fit() applies, and no variable or statistic changed by any helper."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers, ops

import helpers
from helpers.gradients import (
    OUTSIDE_CALLS,
    contributions_add_up,
    gradient,
    gradients_by_call,
    split_mismatch,
)
from helpers.variables import variable_uses


def data(n: int = 6):
    r = np.random.default_rng(3)
    return [r.normal(size=(n, 4)), r.normal(size=(n, 4))], r.normal(size=(n, 1))


def siamese_with_norm(dropout: float = 0.0, regularizer=None) -> keras.Model:
    """A shared encoder whose output goes through BatchNormalization called with
    training=True (batch statistics, moving averages updated) and, optionally, Dropout."""
    left, right = keras.Input((4,), name="left"), keras.Input((4,), name="right")
    encoder = layers.Dense(3, activation="tanh", name="encoder", kernel_regularizer=regularizer)
    norm = layers.BatchNormalization(name="norm")
    drop = layers.Dropout(dropout, name="drop", seed=1)
    a, b = drop(norm(encoder(left), training=True)), drop(norm(encoder(right), training=True))
    return keras.Model(
        [left, right], layers.Dense(1, name="score")(layers.Subtract()([a, b])), name="normed"
    )


def snapshot(model: keras.Model) -> list[np.ndarray]:
    """Every variable of the model: weights, moving statistics and random seed states."""
    return [np.array(keras.ops.convert_to_numpy(v.value)) for v in model.variables]


def mse_to(y):
    # A tensor, not a NumPy array: on PyTorch, `tensor - array` would convert the tensor.
    target = ops.convert_to_tensor(y, dtype=keras.config.floatx())
    return lambda out: ops.mean((out - target) ** 2)


def test_the_split_is_exact_in_training_mode():
    model = siamese_with_norm()
    (x, y), kernel = data(), model.get_layer("encoder").kernel
    parts = gradients_by_call(model, kernel, x, mse_to(y))
    assert list(parts) == ["encoder[1]", "encoder[2]"]
    whole = gradient(model, kernel, x, mse_to(y))
    np.testing.assert_allclose(sum(parts.values()), whole, rtol=1e-5, atol=1e-6)
    assert contributions_add_up(model, kernel, x, mse_to(y))
    # A shared BatchNormalization: its gamma too is split by call, and adds up.
    gamma = model.get_layer("norm").gamma
    assert contributions_add_up(model, gamma, x, mse_to(y))


def test_training_mode_differs_from_inference_and_can_be_chosen():
    model = siamese_with_norm()
    (x, y), kernel = data(), model.get_layer("encoder").kernel
    trained = gradient(model, kernel, x, mse_to(y))
    predicted = gradient(model, kernel, x, mse_to(y), training=False)
    assert trained.shape == predicted.shape
    parts = gradients_by_call(model, kernel, x, mse_to(y), training=False)
    np.testing.assert_allclose(sum(parts.values()), predicted, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dropout", [0.0, 0.5])
def test_gradient_is_the_step_fit_applies(dropout):
    """Plain SGD with learning rate 1 on one full batch moves each variable by exactly
    -gradient: with the compiled loss, batch statistics, dropout and a regularizer."""
    model = siamese_with_norm(dropout, regularizer=keras.regularizers.L2(0.1))
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1.0), loss="mse")
    (x, y), kernel = data(), model.get_layer("encoder").kernel
    g = gradient(model, kernel, x, targets=y)
    parts = gradients_by_call(model, kernel, x, targets=y)
    assert OUTSIDE_CALLS in parts  # the L2 penalty reads the kernel outside any call
    np.testing.assert_allclose(sum(parts.values()), g, rtol=1e-5, atol=1e-6)
    before = kernel.numpy().copy()
    model.fit(x, y, batch_size=len(y), epochs=1, shuffle=False, verbose=0)
    np.testing.assert_allclose(kernel.numpy(), before - g, rtol=1e-4, atol=1e-6)


def test_compiled_loss_needs_a_compiled_model_and_targets():
    model = siamese_with_norm()
    (x, _), kernel = data(), model.get_layer("encoder").kernel
    with pytest.raises(ValueError, match="compile"):
        gradient(model, kernel, x)
    model.compile(loss="mse")
    with pytest.raises(ValueError, match="targets"):
        gradient(model, kernel, x)


def test_no_helper_changes_any_variable_or_statistic():
    model = siamese_with_norm(dropout=0.5)
    (x, y), kernel = data(), model.get_layer("encoder").kernel
    before = snapshot(model)
    first = gradients_by_call(model, kernel, x, mse_to(y))
    gradient(model, kernel, x, mse_to(y))
    contributions_add_up(model, kernel, x, mse_to(y))
    helpers.assert_gradient_split(model, kernel, x, mse_to(y), first)
    for report in (
        helpers.sharing_report,
        helpers.param_table,
        helpers.formula_table,
        helpers.variable_uses,
    ):
        report(model)
    after = snapshot(model)
    assert len(before) == len(after)
    for old, new in zip(before, after, strict=True):
        np.testing.assert_array_equal(old, new)
    # ...and so the same call gives the same answer (same dropout mask, same statistics).
    again = gradients_by_call(model, kernel, x, mse_to(y))
    for label in first:
        np.testing.assert_array_equal(first[label], again[label])


class Pair(layers.Layer):
    """A wrapper whose call applies one inner Dense to two inputs."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.inner = layers.Dense(2, name="inner")

    def call(self, a, b):
        return self.inner(a) - self.inner(b)


def test_reuse_inside_one_custom_call_adds_up():
    a, b = keras.Input((3,)), keras.Input((3,))
    model = keras.Model([a, b], Pair(name="pair")(a, b))
    kernel = model.get_layer("pair").inner.kernel
    x = [np.ones((2, 3)), np.arange(6.0).reshape(2, 3)]
    parts = gradients_by_call(model, kernel, x, lambda out: ops.sum(out**2))
    readers = next(u.labels for u in variable_uses(model) if u.variable is kernel)
    assert set(parts) == set(readers)  # the engine's call labels, whatever their depth
    np.testing.assert_allclose(
        sum(parts.values()),
        gradient(model, kernel, x, lambda out: ops.sum(out**2)),
        rtol=1e-5,
        atol=1e-6,
    )


def test_split_mismatch_names_the_gap():
    assert split_mismatch({"a[1]": np.ones(2), "a[2]": np.ones(2)}, np.full(2, 2.0)) is None
    message = split_mismatch({"a[1]": np.ones(2), "a[2]": np.zeros(2)}, np.full(2, 2.0))
    assert "off by up to 1" in message and "a[1], a[2]" in message
    assert "shape" in split_mismatch({"a[1]": np.ones(3)}, np.ones(2))
