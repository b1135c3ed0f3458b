"""The inspection engine on a corpus of architectures (tests/helpers/architectures.py): the
helpers' call counts, parameter counts and shared variables must equal what each test
works out without them (config inbound nodes, ids of model.weights, the builder's ties)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from architectures import CORPUS, Siamese, Twice

import helpers
from helpers.analysis import InspectionError, analyse
from helpers.tracing import Tracer

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.mark.parametrize("name", list(CORPUS))
def test_helpers_agree_with_the_independent_truth(name):
    build, truth_of = CORPUS[name]
    model = build()
    truth = truth_of(model)
    assert helpers.call_counts(model) == truth.calls
    assert helpers.count_params(model) == truth.params == model.count_params()
    uses = helpers.variable_uses(model)
    assert {u.path for u in uses if u.is_shared} == truth.shared
    # Every weight appears once, in a report whose params add up to the model's.
    report = helpers.sharing_report(model)
    assert sum(report.column("params")) == truth.params
    assert len(uses) == len({id(v) for v in model.weights})
    tables = helpers.param_table(model)
    assert tables.rows[-1][3] == truth.params
    assert sum(t + n for t, n in helpers.block_params(model).values()) == truth.params
    # No operation is listed as a layer; every call is a call of a layer of the model.
    assert all(isinstance(c.layer, keras.layers.Layer) for c in helpers.layer_calls(model))


def test_a_report_reuses_the_analysis_until_the_model_changes():
    model = CORPUS["graph_with_ops"][0]()
    first = analyse(model)
    assert analyse(model) is first
    helpers.sharing_report(model), helpers.param_table(model), helpers.call_counts(model)
    assert analyse(model) is first
    head = model.get_layer("head")
    object.__setattr__(head, "borrowed", model.get_layer("enc").kernel)
    assert analyse(model) is first  # Keras's own Dense reads its own weights, whatever it holds
    keras.layers.Dense(2)(keras.Input((3,)))  # other models and layers change nothing here
    assert analyse(model) is first


def test_a_tie_changed_after_a_report_is_seen():
    from known_models import DenseTransposed

    x = keras.Input((6,), name="x")
    encoder, other = keras.layers.Dense(3, name="encoder"), keras.layers.Dense(3, name="other")
    decoder = DenseTransposed(encoder, name="decoder")
    model = keras.Model(x, [decoder(encoder(x)), other(x)])
    assert helpers.shares_weights(model, "decoder", "encoder")
    object.__setattr__(decoder, "tied_to", other)  # re-tied, untracked, after a report
    assert helpers.shares_weights(model, "decoder", "other")
    assert not helpers.shares_weights(model, "decoder", "encoder")


def test_nothing_changes_while_tracing():
    inputs = keras.Input((4,))
    norm = keras.layers.BatchNormalization(name="norm")
    model = keras.Model(
        inputs, keras.layers.Dropout(0.5)(norm(inputs, training=True), training=True)
    )
    before = [np.array(v.numpy()) for v in model.variables]
    helpers.sharing_report(model)
    assert all(np.array_equal(a, v.numpy()) for a, v in zip(before, model.variables, strict=True))


def test_nested_reuse_inside_a_subclassed_model():
    class Deep(keras.Model):
        def __init__(self):
            super().__init__(name="deep")
            self.twice = Twice(4, name="twice")
            self.head = keras.layers.Dense(1, name="head")

        def call(self, x):
            return self.head(self.twice(self.twice(x)))

    model = Deep()
    model(np.zeros((2, 4)))
    uses = {u.path: u.labels for u in helpers.variable_uses(model)}
    assert uses["deep/twice/inner/kernel"] == [
        "twice[1]/inner[1]",
        "twice[1]/inner[2]",
        "twice[2]/inner[1]",
        "twice[2]/inner[2]",
    ]
    assert uses["deep/head/kernel"] == ["head"]
    assert helpers.call_counts(model) == {"twice": 2, "head": 1}


def test_a_layer_that_fails_on_zeros_is_named():
    class Picky(keras.layers.Layer):
        def compute_output_spec(self, x):
            return keras.KerasTensor(x.shape, x.dtype)

        def call(self, x):
            if float(keras.ops.sum(x)) == 0:
                raise ValueError("all zeros")
            return x

    x = keras.Input((3,))
    model = keras.Model(x, Picky(name="picky")(keras.layers.Dense(3, name="d")(x)), name="fussy")
    with pytest.raises(InspectionError, match="could not run layer 'picky' of 'fussy'.*all zeros"):
        helpers.sharing_report(model)
    with pytest.raises(helpers.CheckFailed, match="could not run layer 'picky'") as info:
        helpers.assert_shared(model, "d", "picky", hint="read your call()")
    assert "Hint: read your call()" in str(info.value)


def test_a_layer_that_needs_values_is_read_like_any_other():
    """Python control flow on a tensor's value: JAX cannot trace it on shapes alone, so the
    helpers run it on values there (and always do on the other backends)."""

    class Gate(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.inner = keras.layers.Dense(3, name="inner")

        def build(self, shape):
            self.inner.build(shape)

        def compute_output_spec(self, x):
            return keras.KerasTensor(x.shape, x.dtype)

        def call(self, x):
            if float(keras.ops.sum(x)) >= 0:  # a Python bool from a value
                return self.inner(x)
            return x

    x = keras.Input((3,))
    dense = keras.layers.Dense(3, name="d")
    model = keras.Model(x, Gate(name="gate")(dense(x)), name="gated")
    assert helpers.count_params(model) == model.count_params() == 24
    assert [u.path for u in helpers.variable_uses(model)] == [
        "d/kernel",
        "d/bias",
        "gate/inner/kernel",
        "gate/inner/bias",
    ]


def test_calls_are_traced_on_shapes_where_the_backend_can():
    """On JAX a replay computes nothing (``jax.eval_shape``): a report on a large model does
    not compile and run every operation of it."""
    dense = keras.layers.Dense(2, name="d")
    dense.build((None, 3))
    result = Tracer(batch=1).run(lambda: dense(keras.ops.zeros((1, 3))))
    assert tuple(result.shape) == (1, 2)
    if keras.backend.backend() == "jax":
        import jax

        assert isinstance(result, jax.ShapeDtypeStruct)
    else:
        assert keras.ops.is_tensor(result)


def test_a_layer_created_inside_call_is_explained():
    class Fresh(keras.Model):
        def call(self, x):
            return keras.layers.Dense(2, name="made_in_call")(x)

    model = Fresh(name="fresh")
    model(np.zeros((2, 3)))
    with pytest.raises(helpers.CheckFailed, match="creates new variables each time.*__init__"):
        helpers.assert_variable_count(model, 2)


def test_siamese_subclassed_check_messages_name_the_layers():
    model = Siamese(name="pair")
    model([np.zeros((2, 6)), np.zeros((2, 6))])
    with pytest.raises(helpers.CheckFailed, match="'enc' and 'head' should share weights"):
        helpers.assert_shared(model, "enc", "head")
