"""Gradient parts keyed exactly like the readers ``variable_uses`` lists (issue 25, point 4):
a ``Lambda`` that applies a layer, a custom RNN cell applying a shared Dense, a tie in a
subclassed model's own ``call()``, an operation of a graph reading a kernel.

The truth is independent of the helpers: each model has an UNTIED twin in which every
reader of the variable reads its own copy (same values). The gradient with respect to a
copy, by finite differences, is that reader's part; the whole gradient is the finite
difference of the tied model itself."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers, ops
from truths import finite_difference

import helpers

RNG = np.random.default_rng(7)
X = RNG.normal(size=(2, 3)).astype("float32")
SEQ = RNG.normal(size=(2, 2, 3)).astype("float32")
WEIGHTS = ops.convert_to_tensor(RNG.normal(size=(2, 3)).astype("float32"))


def loss(out):
    return ops.sum(ops.tanh(out) * WEIGHTS)


def _init():
    """The same values in every build: the tied model and its twin start equal."""
    return keras.initializers.RandomNormal(seed=3)


def _dense(name, built_like=None):
    d = layers.Dense(3, activation="tanh", name=name, kernel_initializer=_init())
    d.build((None, 3))
    if built_like is not None:
        d.set_weights(built_like.get_weights())
    return d


def lambda_applying_a_layer(split: bool):
    d = _dense("d")
    other = _dense("d_copy", d) if split else d
    lam = layers.Lambda(lambda t: other(t), name="lam")
    x = keras.Input((3,))
    model = keras.Model(x, lam(d(x)))
    return model, X, {"d": d.kernel, "lam": other.kernel}


class Cell(layers.Layer):
    def __init__(self, proj, **kwargs):
        super().__init__(**kwargs)
        object.__setattr__(self, "proj", proj)  # the shared Dense, untracked here
        self.state_size = 3

    def call(self, inputs, states):
        h = ops.tanh(self.proj(inputs) + states[0])
        return h, [h]


def rnn_cell_with_a_shared_dense(split: bool):
    shared = _dense("shared")
    inner = _dense("shared_copy", shared) if split else shared
    seq = keras.Input((2, 3))
    out = shared(layers.RNN(Cell(inner), name="rnn")(seq))
    model = keras.Model(seq, out)
    return model, SEQ, {"rnn": inner.kernel, "shared": shared.kernel}


class TieInCall(keras.Model):
    def __init__(self, split: bool, **kwargs):
        super().__init__(**kwargs)
        self.encoder = layers.Dense(
            3, activation="tanh", name="encoder", kernel_initializer=_init()
        )
        self.split = split

    def build(self, shape):
        self.encoder.build(shape)
        if self.split:
            self.copy = self.add_weight(shape=(3, 3), name="copy")
            self.copy.assign(self.encoder.kernel)

    def call(self, x):
        kernel = self.copy if self.split else self.encoder.kernel
        return ops.matmul(self.encoder(x), ops.transpose(kernel))


def subclassed_tie_in_call(split: bool):
    model = TieInCall(split, name="tie")
    model(X)
    return model, X, {"encoder": model.encoder.kernel, "tie": getattr(model, "copy", None)}


def operation_reading_a_kernel(split: bool):
    d = _dense("d")
    other = _dense("d_copy", d) if split else d
    x = keras.Input((3,))
    model = keras.Model(x, ops.matmul(d(x), other.kernel))
    return model, X, {"d": d.kernel, "matmul": other.kernel}


BUILDERS = [
    lambda_applying_a_layer,
    rnn_cell_with_a_shared_dense,
    subclassed_tie_in_call,
    operation_reading_a_kernel,
]


@pytest.mark.parametrize("build", BUILDERS, ids=lambda b: b.__name__)
def test_parts_are_the_readers_and_match_finite_differences(build):
    model, x, parts_of = build(split=False)
    variable = next(iter(parts_of.values()))
    readers = next(u.labels for u in helpers.variable_uses(model) if u.variable is variable)
    assert sorted(readers) == sorted(parts_of)  # the engine lists both readers
    parts = helpers.gradients_by_call(model, variable, x, loss, training=False)
    assert list(parts) == readers  # keyed exactly like variable_uses, nothing more
    whole = finite_difference(model, variable, x, loss)
    np.testing.assert_allclose(sum(parts.values()), whole, atol=3e-3)
    twin, _, copies = build(split=True)
    truths = {label: finite_difference(twin, copy, x, loss) for label, copy in copies.items()}
    for label, truth in truths.items():
        np.testing.assert_allclose(parts[label], truth, atol=3e-3, err_msg=label)
    # A learner handing in the true parts (from the twin) passes the check.
    helpers.assert_gradient_split(model, variable, x, loss, truths, atol=3e-3)
