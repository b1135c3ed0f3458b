"""Keras facts lesson 00 states, checked under the installed Keras: a test fails when an
upgrade makes a sentence of the lesson untrue.

A weights file keys each layer by its type and rank among the layers of that type
(`layers/dense`, `layers/dense_1`), not by name or position; `layer.output` of a layer
called twice is the first call's output, and the tensor a call returns reaches the others.
"""

from __future__ import annotations

import h5py
import keras
import numpy as np
import pytest
from keras import layers, ops


@pytest.fixture(autouse=True)
def _fresh_session():
    keras.backend.clear_session(free_memory=False)
    keras.utils.set_random_seed(0)


def saved_keys(model: keras.Model, path) -> list[str]:
    model.save_weights(path)
    keys: list[str] = []
    with h5py.File(path) as file:
        file.visititems(
            lambda key, item: keys.append(key) if isinstance(item, h5py.Dataset) else None
        )
    return keys


def test_weights_file_keys_are_per_layer_type(tmp_path):
    x = keras.Input((3,))
    h = layers.Dense(3, name="first")(x)
    model = keras.Model(
        x, layers.BatchNormalization(name="norm")(layers.Dense(3, name="second")(h))
    )
    assert saved_keys(model, tmp_path / "m.weights.h5") == [
        *(f"layers/batch_normalization/vars/{i}" for i in range(4)),
        "layers/dense/vars/0",
        "layers/dense/vars/1",
        "layers/dense_1/vars/0",
        "layers/dense_1/vars/1",
    ]


def test_a_layer_moved_to_another_position_still_loads(tmp_path):
    x = keras.Input((3,))
    norm_last = keras.Model(x, layers.BatchNormalization()(layers.Dense(3, name="d1")(x)))
    x = keras.Input((3,))
    norm_first = keras.Model(x, layers.Dense(3, name="d2")(layers.BatchNormalization()(x)))
    path = tmp_path / "norm_last.weights.h5"
    norm_last.save_weights(path)
    norm_first.load_weights(path)
    assert np.array_equal(
        ops.convert_to_numpy(norm_first.get_layer("d2").kernel),
        ops.convert_to_numpy(norm_last.get_layer("d1").kernel),
    )


def test_layer_output_is_the_first_call_and_each_call_returns_its_own_tensor():
    query, document = keras.Input((6,)), keras.Input((6,))
    embed = layers.Dense(4)
    first, second = embed(query), embed(document)
    assert embed.output is first and embed.output is not second
    rows = np.random.default_rng(1).normal(size=(2, 6)).astype("float32")
    second_call = keras.Model([query, document], second)
    assert np.allclose(ops.convert_to_numpy(second_call([rows, rows * 2])), embed(rows * 2))
