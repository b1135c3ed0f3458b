"""Keras facts lesson 01 (sharing) states, checked under the installed Keras: a test fails
when an upgrade makes a sentence of the lesson untrue.

Article A's convolutional model (its Examples 1 and 3, the same code) shares its Conv2D;
`MaxPooling2D()` pools 2 x 2, the "different" size of Example 1; a layer created in
`call()` leaves nothing to train, and `fit` says so and then fails on TensorFlow.
"""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest
from keras import layers

from helpers import count_params, param_table, shared_variables


@pytest.fixture(autouse=True)
def _fresh_session():
    keras.backend.clear_session(free_memory=False)
    keras.utils.set_random_seed(0)


def article_a(second_conv: bool = False, pool_b: int | None = None) -> keras.Model:
    first, second = keras.Input((28, 28, 1)), keras.Input((28, 28, 1))
    conv = layers.Conv2D(32, 3, activation="relu", name="conv")
    conv_b = layers.Conv2D(32, 3, activation="relu", name="conv_b") if second_conv else conv
    a = layers.Dense(10)(layers.Flatten()(layers.MaxPooling2D(pool_size=(2, 2))(conv(first))))
    pooling_b = layers.MaxPooling2D() if pool_b is None else layers.MaxPooling2D(pool_b)
    b = layers.Dense(10)(layers.Flatten()(pooling_b(conv_b(second))))
    joined = layers.Concatenate()([a, b])
    return keras.Model([first, second], layers.Dense(10, activation="softmax")(joined))


def test_article_a_model_counts_its_shared_conv_once():
    model = article_a()
    assert count_params(model) == model.count_params() == 108_710
    assert [v.path for v in shared_variables(model, "conv", "conv")] == ["conv/kernel", "conv/bias"]
    conv_row = next(row for row in param_table(model).rows if row[0] == "conv")
    assert conv_row[3] == 320 and conv_row[4] == "conv[2]"


def test_two_conv_objects_cost_320_more():
    assert count_params(article_a(second_conv=True)) == 108_710 + 320


def test_max_pooling_default_pool_size_is_two_by_two():
    assert tuple(layers.MaxPooling2D().pool_size) == (2, 2)


def test_a_really_different_pool_size_changes_only_the_dense_after_it():
    model = article_a(pool_b=3)  # 26 x 26 -> 8 x 8 x 32 = 2,048 values for dense_b
    assert count_params(model) == 320 + 54_090 + (2_048 + 1) * 10 + 210
    assert len(shared_variables(model, "conv", "conv")) == 2


class FreshEveryCall(layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def call(self, inputs):
        return layers.Dense(self.units)(inputs)


def test_a_layer_created_in_call_cannot_be_trained():
    pixels = keras.Input((64,))
    trap = keras.Model(pixels, FreshEveryCall(4)(pixels))
    assert trap.weights == []
    trap.compile(optimizer="adam", loss="mse")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("the error the lesson shows is TensorFlow's")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ValueError, match="tf.function only supports singleton tf.Variables"):
            trap.fit(np.zeros((1, 64)), np.zeros((1, 4)), verbose=0)
    assert any("does not have any trainable weights" in str(w.message) for w in caught)
