"""Ties written every way Keras allows, and the frozen copy that only looks like one (issue
25, points 2 and 3). Each model has a second output computed ONLY through the would-be tie,
so the truth is numeric and independent of the helpers: that output follows a new value of
the variable exactly when the tie is live. The helpers must then list the tie's reader
(report, diagram, check), or, for a frozen copy, name it as one and fail ``assert_tied``."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers, ops
from known_models import DenseTransposed
from truths import outputs

import helpers


def second_output_follows(model, variable, inputs) -> bool:
    """The model's LAST output changes when ``variable`` gets a new value."""
    before = outputs(model, inputs)[-1]
    old = np.array(keras.ops.convert_to_numpy(variable.value))
    variable.assign(old + np.random.default_rng(0).normal(1.0, 0.5, old.shape).astype(old.dtype))
    try:
        after = outputs(model, inputs)[-1]
    finally:
        variable.assign(old)
    return not np.allclose(before, after, atol=1e-6)


def _x(*shape):
    return np.random.default_rng(1).normal(size=shape).astype("float32")


# Each builder returns (model, the tied variable, the tie's reader label, inputs).


def einsum_on_embeddings():
    tokens, h_in = keras.Input((5,), dtype="int32", name="tokens"), keras.Input((5, 4), name="h")
    emb = layers.Embedding(11, 4, name="emb")
    h = layers.Dense(4, name="mix")(h_in)
    model = keras.Model(
        [tokens, h_in], [emb(tokens), ops.einsum("btd,vd->btv", h, emb.embeddings)], name="lm"
    )
    ids = np.random.default_rng(2).integers(0, 11, (2, 5)).astype("int32")
    return model, emb.embeddings, "einsum", [ids, _x(2, 5, 4)]


def matmul_on_a_kernel():
    x, y = keras.Input((3,), name="x"), keras.Input((3,), name="y")
    d = layers.Dense(3, name="d")
    return (
        keras.Model([x, y], [d(x), ops.matmul(y, d.kernel)]),
        d.kernel,
        "matmul",
        [
            _x(2, 3),
            _x(2, 3),
        ],
    )


def transposed_constant():
    """``ops.transpose(emb.embeddings)`` computed at graph build: frozen on TensorFlow and
    JAX, a live view on PyTorch."""
    tokens, h_in = keras.Input((5,), dtype="int32", name="tokens"), keras.Input((5, 4), name="h")
    emb = layers.Embedding(11, 4, name="emb")
    h = layers.Dense(4, name="mix")(h_in)
    model = keras.Model(
        [tokens, h_in], [emb(tokens), ops.matmul(h, ops.transpose(emb.embeddings))], name="lm"
    )
    ids = np.random.default_rng(2).integers(0, 11, (2, 5)).astype("int32")
    return model, emb.embeddings, "matmul", [ids, _x(2, 5, 4)]


def lambda_reading_a_kernel():
    x, y = keras.Input((3,), name="x"), keras.Input((4,), name="y")
    d = layers.Dense(4, name="d")
    back = layers.Lambda(lambda t: ops.matmul(t, ops.transpose(d.kernel)), name="back")
    return keras.Model([x, y], [d(x), back(y)]), d.kernel, "back", [_x(2, 3), _x(2, 4)]


def custom_layer_tie():
    x, y = keras.Input((6,), name="x"), keras.Input((3,), name="y")
    encoder = layers.Dense(3, name="encoder")
    decoder = DenseTransposed(encoder, name="decoder")
    return (
        keras.Model([x, y], [encoder(x), decoder(y)]),
        encoder.kernel,
        "decoder",
        [
            _x(2, 6),
            _x(2, 3),
        ],
    )


class TieInCall(keras.Model):
    """A subclassed model whose own ``call`` reads the encoder's kernel."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.encoder = layers.Dense(3, name="encoder")

    def call(self, x, y):
        return self.encoder(x), ops.matmul(y, ops.transpose(self.encoder.kernel))


def subclassed_tie_in_call():
    model = TieInCall(name="tie_in_call")
    inputs = [_x(2, 6), _x(2, 3)]
    model(*inputs)
    return model, model.encoder.kernel, "tie_in_call", inputs


def nested_graph_with_an_op():
    """A functional sub-model whose graph reads an outer layer's kernel through an op."""
    outer = layers.Dense(3, name="outer")
    x, y = keras.Input((4,), name="x"), keras.Input((4,), name="y")
    h = outer(x)
    inner_in = keras.Input((4,), name="inner_in")
    sub = keras.Model(inner_in, ops.matmul(inner_in, outer.kernel), name="sub")
    return (
        keras.Model([x, y], [h, sub(y)], name="nested"),
        outer.kernel,
        "sub",
        [
            _x(2, 4),
            _x(2, 4),
        ],
    )


BUILDERS = {
    f.__name__: f
    for f in (
        einsum_on_embeddings,
        matmul_on_a_kernel,
        transposed_constant,
        lambda_reading_a_kernel,
        custom_layer_tie,
        subclassed_tie_in_call,
        nested_graph_with_an_op,
    )
}


def _call(model, inputs):
    return model(*inputs) if isinstance(model, TieInCall) else model(inputs)


@pytest.mark.parametrize("name", list(BUILDERS))
def test_a_live_tie_is_reported_and_a_frozen_copy_is_named(name):
    model, variable, reader, inputs = BUILDERS[name]()
    if isinstance(model, TieInCall):
        live = _follows_subclassed(model, variable, inputs)
    else:
        live = second_output_follows(model, variable, inputs)
    use = next(u for u in helpers.variable_uses(model) if u.variable is variable)
    report = str(helpers.sharing_report(model))
    diagram = dict(helpers.sharing_diagram(model).readers)
    copies = [c for c in helpers.frozen_copies(model) if c.variable is variable]
    assert helpers.count_params(model) == model.count_params()
    assert sum(helpers.sharing_report(model).column("params")) == model.count_params()
    if live:
        assert reader in use.labels, use.labels
        assert use.is_shared and reader in diagram[variable.path]
        assert copies == [] and "frozen copy" not in report
        if not isinstance(model, TieInCall) and reader != "sub":
            owner = variable.path.split("/")[-2]
            helpers.assert_tied(model, reader, owner, variable.path.split("/")[-1])
    else:  # a frozen copy (TensorFlow, JAX): named as one, and no tie claimed
        assert reader not in use.labels and not use.is_shared
        assert [c.operation for c in copies] == [reader] and copies[0].transposed
        assert "frozen copy of emb/embeddings, not a tie" in report
        with pytest.raises(helpers.CheckFailed, match="frozen copy.*computed once.*call"):
            helpers.assert_tied(model, reader, "emb", "embeddings")


def _follows_subclassed(model, variable, inputs) -> bool:
    before = np.asarray(keras.ops.convert_to_numpy(model(*inputs)[-1]))
    old = np.array(keras.ops.convert_to_numpy(variable.value))
    variable.assign(old + 1.0)
    try:
        after = np.asarray(keras.ops.convert_to_numpy(model(*inputs)[-1]))
    finally:
        variable.assign(old)
    return not np.allclose(before, after)


def test_the_transposed_constant_is_frozen_exactly_where_the_backend_freezes_it():
    model, variable, _, inputs = transposed_constant()
    live = second_output_follows(model, variable, inputs)
    assert live == (keras.backend.backend() == "torch")
    assert bool(helpers.frozen_copies(model)) == (not live)


def test_a_constant_that_copies_nothing_is_not_a_frozen_copy():
    x = keras.Input((3,))
    d = layers.Dense(3, name="d")
    model = keras.Model(x, ops.matmul(d(x), ops.ones((3, 3))))
    assert helpers.frozen_copies(model) == []
    assert "Warning" not in str(helpers.sharing_report(model))
