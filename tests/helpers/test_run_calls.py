"""helpers.replay.run_calls: the model runs as usual, and each layer call (nested ones
too) runs inside the context the caller chooses for it."""

from __future__ import annotations

import contextlib

import keras
import numpy as np
import pytest
from architectures import Siamese, graph_with_ops, wrapper_in_sequential

from helpers.analysis import InspectionError
from helpers.replay import run_calls

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def record(model, inputs, **kwargs):
    seen = []

    def around(call):
        seen.append(call.label)
        return contextlib.nullcontext()

    return run_calls(model, inputs, around, **kwargs), seen


def test_a_graph_with_operations_runs_as_the_model_does():
    model = graph_with_ops()
    inputs = [
        np.random.rand(3, 6),
        np.random.rand(3, 6),
        np.array([[1, 2, 0], [3, 0, 0], [4, 5, 6]]),
    ]
    outputs, seen = record(model, inputs)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(outputs), model.predict(inputs, verbose=0), atol=1e-6
    )
    assert sorted(seen) == ["embed", "enc[1]", "enc[2]", "head", "pool"]


def test_one_nested_call_can_be_given_a_stand_in_variable():
    model = wrapper_in_sequential()
    inner = model.get_layer("twice").inner
    x = np.random.rand(2, 4).astype("float32")

    def around(call):
        if call.label == "twice/inner[2]":  # the second use of the kernel reads zeros
            return keras.StatelessScope(
                state_mapping=[(inner.kernel, keras.ops.zeros(inner.kernel.shape))]
            )
        return contextlib.nullcontext()

    got = run_calls(model, x, around)
    first = np.tanh(x @ inner.kernel.numpy() + inner.bias.numpy())
    second = np.tanh(0 * first + inner.bias.numpy())
    out = model.get_layer("out")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(got), second @ out.kernel.numpy() + out.bias.numpy(), atol=1e-5
    )


def test_a_subclassed_model_runs_call_by_call():
    model = Siamese(name="pair")
    a, b = np.random.rand(2, 6), np.random.rand(2, 6)
    model([a, b])
    outputs, seen = record(model, [a, b], training=False)
    assert seen == ["enc[1]", "enc[2]", "head"]
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(outputs), keras.ops.convert_to_numpy(model([a, b])), atol=1e-6
    )


def test_a_model_that_calls_other_layers_on_other_data_is_refused():
    class Branchy(keras.Model):
        def __init__(self):
            super().__init__(name="branchy")
            self.small, self.large = (
                keras.layers.Dense(1, name="small"),
                keras.layers.Dense(1, name="large"),
            )

        def call(self, x):
            if float(keras.ops.sum(x)) > 0:
                return self.large(x)
            return self.small(x)

    model = Branchy()
    model(np.ones((1, 2)))
    model(np.zeros((1, 2)))
    model.build((None, 2))  # no shape was recorded: the symbolic build could not run call()
    with pytest.raises(InspectionError, match="called 'large' where 'small' was expected"):
        record(model, np.ones((1, 2)))
