"""Every output is kept and judged (issue 25, point 6): two outputs of one layer
(``head(a)``, ``head(b)``) in a functional model, in a model with three calls of the head
and in a subclassed model returning a list. The truth: ``model.predict`` itself, output by
output, and accuracies worked out with NumPy."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

import helpers

RNG = np.random.default_rng(5)


def two_heads():
    a, b = keras.Input((3,), name="a"), keras.Input((3,), name="b")
    head = layers.Dense(2, name="head")
    return keras.Model([a, b], [head(a), head(b)], name="two_heads"), [
        RNG.normal(size=(20, 3)),
        RNG.normal(size=(20, 3)),
    ]


def three_calls_and_another():
    a, b, c = (keras.Input((3,), name=n) for n in "abc")
    head, other = layers.Dense(2, name="head"), layers.Dense(2, name="other")
    outs = [head(a), other(a), head(b), head(c)]
    return keras.Model([a, b, c], outs, name="three"), [RNG.normal(size=(20, 3)) for _ in "abc"]


@pytest.mark.parametrize("build", [two_heads, three_calls_and_another])
def test_no_output_is_lost(build):
    model, x = build()
    truth = [np.asarray(p) for p in model.predict(x, verbose=0)]
    predicted = helpers.predict_outputs(model, x)
    assert len(predicted) == len(truth)  # one entry per output, none overwritten
    for got, want in zip(predicted.values(), truth, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-5)
    names = list(predicted)
    labels = [c.label for c in helpers.layer_calls(model)]
    assert all(n in labels for n in names if n.startswith("head"))  # named as the calls are
    targets = {n: RNG.integers(0, 2, 20) for n in names}
    scores = helpers.accuracy(model, x, targets)
    for (name, got), want in zip(predicted.items(), truth, strict=True):
        assert scores[name] == np.mean(want.argmax(-1) == targets[name])
    # assert_accuracy judges every output: one that is below its floor fails it.
    low = min(scores, key=scores.get)
    floors = {n: 0.0 for n in names}
    floors[low] = scores[low] + 0.01
    with pytest.raises(helpers.CheckFailed, match=f"output '{low.replace('[', '.')}"):
        helpers.assert_accuracy(model, x, targets, at_least=floors)
    helpers.assert_accuracy(model, x, targets, at_least=0.0)
