"""Keras facts lesson 04 (capacity) states, checked under the installed Keras: a test fails
when an upgrade makes a sentence of the lesson untrue.

Article B's three models are built as the lesson builds them (section 6), with their exact
counts; the LSTM and GRU weight blocks, BatchNormalization's non-trainable variables that
`fit` still moves, and a shared block counted once (section 7).
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers, ops

from helpers import count_params, layer_calls


@pytest.fixture(autouse=True)
def _fresh_session():
    keras.backend.clear_session(free_memory=False)
    keras.utils.set_random_seed(0)


def conv_block(x, filters):
    x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
    return layers.MaxPooling2D(2)(layers.BatchNormalization()(x))


def test_article_conv_model_dense_on_a_4d_map_classifies_each_position():
    image = keras.Input((28, 28, 1))
    joined = layers.Concatenate()([conv_block(image, f) for f in (32, 64, 128)])
    model = keras.Model(image, layers.Dense(10, activation="softmax")(joined))
    assert tuple(joined.shape) == (None, 14, 14, 224)
    assert model.output_shape == (None, 14, 14, 10)
    assert count_params(model) == 5_386 and count_params(model, trainable=False) == 448
    with pytest.raises(ValueError, match="must have rank"):  # labels of shape (n,) do not fit
        model.compile(loss="sparse_categorical_crossentropy")
        model.fit(np.zeros((4, 28, 28, 1)), np.zeros((4,)), verbose=0)


def test_article_recurrent_model_two_parallel_lstm_branches():
    steps = keras.Input((100, 5))
    branches = [
        layers.LSTM(16, return_sequences=False)(layers.LSTM(units, return_sequences=True)(steps))
        for units in (32, 64)
    ]
    model = keras.Model(steps, layers.Dense(1)(layers.Concatenate()(branches)))
    assert count_params(model) == 31_137
    lstm_counts = sorted(
        layer.count_params() for layer in model.layers if isinstance(layer, layers.LSTM)
    )
    assert lstm_counts == [3_136, 4_864, 5_184, 17_920]  # 16 on 32, 32 on 5, 16 on 64, 64 on 5


def test_article_dense_model_batchnorm_after_every_dense_averaged():
    features = keras.Input((10,))
    ends = []
    for widths in ([32], [64, 32], [128, 64, 32]):
        h = features
        for units in widths:
            h = layers.BatchNormalization()(layers.Dense(units, activation="relu")(h))
        ends.append(h)
    model = keras.Model(features, layers.Dense(1)(layers.Average()(ends)))
    assert count_params(model) == 16_321
    assert count_params(model, trainable=False) == 704
    with pytest.raises(ValueError, match="incompatible shapes"):
        layers.Average()([layers.Dense(32)(features), layers.Dense(64)(features)])


def test_a_second_recurrent_layer_needs_the_whole_sequence():
    with pytest.raises(ValueError, match="expected ndim=3, found ndim=2"):
        layers.LSTM(16)(layers.LSTM(32)(keras.Input((100, 5))))


def test_lstm_has_four_weight_blocks_and_gru_three_with_two_biases():
    lstm, gru = layers.LSTM(32), layers.GRU(32)
    lstm.build((None, 100, 5))
    gru.build((None, 100, 5))
    assert [tuple(v.shape) for v in lstm.weights] == [(5, 128), (32, 128), (128,)]
    assert [tuple(v.shape) for v in gru.weights] == [(5, 96), (32, 96), (2, 96)]


def test_batchnorm_moving_statistics_are_not_trainable_but_fit_moves_them():
    features = keras.Input((10,))
    norm = layers.BatchNormalization()
    model = keras.Model(features, layers.Dense(1)(norm(layers.Dense(8)(features))))
    assert [v.trainable for v in norm.weights] == [True, True, False, False]
    before = [ops.convert_to_numpy(v).copy() for v in norm.weights]
    model.compile(optimizer="sgd", loss="mse")
    rng = np.random.default_rng(0)
    model.fit(rng.normal(size=(64, 10)), rng.normal(size=(64, 1)), batch_size=32, verbose=0)
    after = [ops.convert_to_numpy(v) for v in norm.weights]
    assert all(not np.array_equal(b, a) for b, a in zip(before, after, strict=True))


def test_a_shared_block_counts_once_and_computes_at_every_call():
    pixels = keras.Input((64,))
    block = layers.Dense(64, activation="relu")
    h = pixels
    for _ in range(4):
        h = layers.Add()([h, block(h)])
    model = keras.Model(pixels, h)
    assert count_params(model) == model.count_params() == 4_160
    assert sum(count_params(call.layer) for call in layer_calls(model)) == 4 * 4_160
