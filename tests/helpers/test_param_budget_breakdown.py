"""assert_param_budget: a model outside its budget is reported with how much to cut or add
and a per-layer breakdown, so a learner sees which layer to resize; a shared layer is
counted once in it, as in the total."""

from __future__ import annotations

import keras
import pytest
from keras import layers

from helpers.checks import CheckFailed, assert_param_budget


def failure(model: keras.layers.Layer, maximum: int, minimum: int = 0) -> str:
    with pytest.raises(CheckFailed) as info:
        assert_param_budget(model, maximum, minimum)
    return str(info.value)


def classifier() -> keras.Model:
    """A conv block, a flattened feature map and a head: the head holds most parameters."""
    image = keras.Input((8, 8, 1), name="image")
    features = layers.Conv2D(8, 3, padding="same", name="features")(image)  # (9 + 1) x 8 = 80
    flat = layers.Flatten(name="flat")(features)  # 512 values
    head = layers.Dense(10, name="head")(flat)  # (512 + 1) x 10 = 5,130
    return keras.Model(image, head, name="classifier")


def test_over_budget_lists_every_layer_with_its_count():
    lines = failure(classifier(), 5_000, 1_000).splitlines()
    assert lines[0] == "'classifier' has 5,210 parameters, over the budget of 1,000 to 5,000."
    assert lines[1] == "Cut at least 210. Where they are, layer by layer:"
    rows = {line.split()[0]: line.split()[1:] for line in lines[3:]}
    assert rows["features"][:3] == ["80", "0", "80"]
    assert rows["head"][:3] == ["5,130", "0", "5,130"]
    assert rows["total"][:3] == ["5,210", "0", "5,210"]


def test_under_budget_says_how_much_to_add():
    text = failure(classifier(), 9_000, 6_000)
    assert text.startswith("'classifier' has 5,210 parameters, under the budget of 6,000 to 9,000.")
    assert "Add at least 790. Where they are, layer by layer:" in text
    assert "head" in text and "5,130" in text


def test_a_shared_layer_appears_once_with_its_other_calls():
    left, right = keras.Input((6,), name="left"), keras.Input((6,), name="right")
    encoder = layers.Dense(4, name="encoder")  # (6 + 1) x 4 = 28, once for both calls
    joined = layers.Concatenate(name="join")([encoder(left), encoder(right)])
    model = keras.Model([left, right], layers.Dense(1, name="score")(joined), name="pair")
    text = failure(model, 30)
    assert text.startswith("'pair' has 37 parameters, over the budget of 0 to 30.")
    encoder_rows = [line for line in text.splitlines() if line.startswith("encoder")]
    assert len(encoder_rows) == 1 and "28" in encoder_rows[0] and "encoder[2]" in encoder_rows[0]


def test_a_bare_layer_gets_the_count_without_a_table():
    dense = layers.Dense(3, name="alone")
    dense.build((None, 4))  # (4 + 1) x 3 = 15
    assert failure(dense, 10) == "'alone' has 15 parameters, over the budget of 0 to 10."


def test_within_budget_passes_silently():
    assert_param_budget(classifier(), 5_210, 5_210)  # inclusive bounds
