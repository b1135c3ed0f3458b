"""Nested reuse and totals (issue 25, points 1 and 7), on every kind of model that nests a
call: a custom layer, a functional sub-model, a Sequential, a subclassed model. The truth is
worked out without the helpers: how many times each outer and inner layer is called (by
hand, from how the model is written), Keras's ``count_params`` and the ids of
``model.weights``."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers
from known_models import DenseTransposed

import helpers


class Twice(layers.Layer):
    """A custom layer that applies ONE inner Dense twice."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.d = layers.Dense(4, activation="tanh", name="d")

    def call(self, x):
        return self.d(self.d(x))


def custom_layer_twice():
    sub = Twice(name="sub")
    x = keras.Input((4,), name="x")
    return keras.Model(x, layers.Dense(1, name="head")(sub(sub(x)))), sub.d


def functional_sub_model_twice():
    inner = keras.Input((4,), name="inner")
    d = layers.Dense(4, activation="tanh", name="d")
    sub = keras.Model(inner, d(d(inner)), name="sub")
    x = keras.Input((4,), name="x")
    return keras.Model(x, layers.Dense(1, name="head")(sub(sub(x)))), d


def sequential_twice():
    d = layers.Dense(4, activation="tanh", name="d")
    sub = keras.Sequential([keras.Input((4,)), d, d], name="sub")
    x = keras.Input((4,), name="x")
    return keras.Model(x, layers.Dense(1, name="head")(sub(sub(x)))), d


class Outer(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.sub = Twice(name="sub")
        self.head = layers.Dense(1, name="head")

    def call(self, x):
        return self.head(self.sub(self.sub(x)))


def subclassed_twice():
    model = Outer(name="outer")
    model(np.zeros((2, 4)))
    return model, model.sub.d


NESTED = {
    f.__name__: f
    for f in (custom_layer_twice, functional_sub_model_twice, sequential_twice, subclassed_twice)
}
INNER_LABELS = ["sub[1]/d[1]", "sub[1]/d[2]", "sub[2]/d[1]", "sub[2]/d[2]"]


@pytest.mark.parametrize("name", list(NESTED))
def test_every_nested_call_is_its_own_box_joined_to_the_variable(name):
    model, d = NESTED[name]()
    kernel_size = int(np.prod(d.kernel.shape))
    # The truth: d is called twice in each of sub's two calls (how the models are written).
    uses = {u.path: u.labels for u in helpers.variable_uses(model)}
    assert uses[d.kernel.path] == INNER_LABELS
    diagram = helpers.sharing_diagram(model)
    readers = dict(diagram.readers)
    assert readers[d.kernel.path] == INNER_LABELS
    inner_boxes = [n for n in diagram.calls if n.label in INNER_LABELS]
    assert sorted(n.label for n in inner_boxes) == sorted(INNER_LABELS)  # four boxes, not two
    params_of_d = kernel_size + int(np.prod(d.bias.shape))
    assert all(n.params == params_of_d for n in inner_boxes)  # each reads d once, not twice
    edges = {(e.variable, e.call) for e in diagram.edges}
    kernel_node = next(n for n in diagram.variables if n.label == d.kernel.path)
    assert {diagram.node(c).label for v, c in edges if v == kernel_node.key} == set(INNER_LABELS)
    assert diagram.total_params == model.count_params()


# --- point 7: a variable read but not tracked is listed, never counted -------------------


def decoder_reading_an_untracked_encoder():
    """The decoder model reads the encoder's kernel (another model's), held untracked as
    assert_owns advises: Keras counts only the decoder's bias."""
    x = keras.Input((6,), name="x")
    encoder = layers.Dense(3, name="encoder")
    keras.Model(x, encoder(x), name="encoder_model")
    z = keras.Input((3,), name="z")
    return keras.Model(z, DenseTransposed(encoder, name="decoder")(z), name="decoder_model")


class Borrower(keras.Model):
    """A subclassed model reading a variable of a layer that is not its own."""

    def __init__(self, lender, **kwargs):
        super().__init__(**kwargs)
        object.__setattr__(self, "lender", lender)
        self.own = layers.Dense(2, name="own")

    def call(self, x):
        return self.own(keras.ops.matmul(x, self.lender.kernel))


def subclassed_borrower():
    lender = layers.Dense(5, name="lender")
    lender.build((None, 3))
    model = Borrower(lender, name="borrower")
    model(np.zeros((2, 3)))
    return model


@pytest.mark.parametrize("build", [decoder_reading_an_untracked_encoder, subclassed_borrower])
def test_every_printed_total_is_keras_count(build):
    model = build()
    truth = model.count_params()  # Keras's own count
    assert truth == sum(int(np.prod(v.shape)) for v in {id(v): v for v in model.weights}.values())
    report = helpers.sharing_report(model)
    assert f"{truth:,} parameters;" in report.footer[0]
    assert "Not counted:" in report.footer[1] and "(not " in str(report)
    table = helpers.param_table(model)
    assert table.rows[-1][3] == truth and "Not counted" in table.footer[0]
    assert sum(t + n for t, n in helpers.block_params(model).values()) == truth
    diagram = helpers.sharing_diagram(model)
    assert diagram.total_params == truth and f"{truth:,} parameter" in diagram.title
    foreign = [u for u in helpers.variable_uses(model) if not u.owned]
    assert len(foreign) == 1 and foreign[0].calls  # listed, with its reader
    ids = {id(v) for v in model.weights}
    assert all((id(u.variable) in ids) == u.owned for u in helpers.variable_uses(model))
