"""compare_weights: identity and equal values are told apart, pair by pair."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

from helpers import compare_weights


def built_dense(name: str, units: int = 3, inputs: int = 4) -> layers.Dense:
    layer = layers.Dense(units, name=name)
    layer.build((None, inputs))
    return layer


def test_separate_layers_are_neither_one_variable_nor_equal():
    table = compare_weights(built_dense("a"), built_dense("b"))
    assert table.column("same variable") == ["no", "no"]
    # Fresh kernels differ (random init); fresh biases are zeros, so equal.
    assert table.column("equal values") == ["no", "yes"]
    assert table.column("a") == ["a/kernel", "a/bias"]
    assert table.footer == ["0 of 2 pairs are one variable; 1 of 2 hold equal values."]


def test_set_weights_copies_values_not_identity_and_training_one_moves_it_apart():
    a, b = built_dense("a"), built_dense("b")
    b.set_weights(a.get_weights())
    assert compare_weights(a, b).column("equal values") == ["yes", "yes"]
    a.kernel.assign_add(np.full((4, 3), 0.25, dtype="float32"))
    table = compare_weights(a, b)
    assert table.column("same variable") == ["no", "no"]
    assert table.column("equal values") == ["no", "yes"]
    assert table.column("max |a - b|") == ["0.25", "0"]


def test_a_layer_compared_with_itself_is_one_variable(siamese):
    encoder = siamese.get_layer("encoder")
    assert compare_weights(encoder, encoder).column("same variable") == ["yes", "yes"]


def test_clone_model_gives_new_variables_with_fresh_values(cloned_towers):
    first, second = cloned_towers.get_layer("first"), cloned_towers.get_layer("second")
    table = compare_weights(first, second)
    assert set(table.column("same variable")) == {"no"}
    assert table.column("equal values")[0] == "no"  # fresh initial kernel, not a copy


def test_clone_function_identity_shares_every_variable():
    keras.backend.clear_session()
    original = keras.Sequential([keras.Input((4,)), layers.Dense(2, name="d")], name="original")
    alias = keras.models.clone_model(original, clone_function=lambda layer: layer)
    assert set(compare_weights(original, alias).column("same variable")) == {"yes"}


def test_unbuilt_layer_is_explained():
    with pytest.raises(ValueError, match="no variables yet"):
        compare_weights(layers.Dense(3, name="fresh"), built_dense("b"))


def test_different_architectures_are_refused():
    with pytest.raises(ValueError, match="do not have the same variables"):
        compare_weights(built_dense("a", units=3), built_dense("b", units=5))
