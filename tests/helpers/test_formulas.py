"""helpers.formulas: closed-form counts, checked against what Keras builds."""

from __future__ import annotations

import keras
import pytest
from keras import layers

from helpers.formulas import (
    Formula,
    batchnorm_params,
    conv1d_params,
    conv2d_params,
    dense_params,
    embedding_params,
    formula_for,
    formula_table,
    gru_params,
    lstm_params,
    simple_rnn_params,
)
from helpers.params import count_params


def built(layer: keras.layers.Layer, shape: tuple, dtype: str = "float32") -> keras.layers.Layer:
    """``layer`` called once on a symbolic input of ``shape`` (batch dimension left out)."""
    layer(keras.Input(shape, dtype=dtype))
    return layer


# (layer, input shape without batch, input dtype, formula value, expression)
CASES = [
    (lambda: layers.Dense(10), (64,), "float32", dense_params(64, 10), "(64 + 1) × 10"),
    (
        lambda: layers.Dense(4, use_bias=False),
        (5,),
        "float32",
        dense_params(5, 4, use_bias=False),
        "(5) × 4",
    ),
    (
        lambda: layers.Dense(4),
        (7, 5),
        "float32",
        dense_params(5, 4),
        "(5 + 1) × 4",
    ),  # per time step
    (
        lambda: layers.Conv2D(32, 3),
        (28, 28, 1),
        "float32",
        conv2d_params(3, 1, 32),
        "(3×3×1 + 1) × 32",
    ),
    (
        lambda: layers.Conv2D(4, (3, 2), use_bias=False),
        (8, 8, 2),
        "float32",
        conv2d_params((3, 2), 2, 4, use_bias=False),
        "(3×2×2) × 4",
    ),
    (
        lambda: layers.Conv2D(4, 3, data_format="channels_first"),
        (3, 8, 8),
        "float32",
        conv2d_params(3, 3, 4),
        "(3×3×3 + 1) × 4",
    ),
    (
        lambda: layers.Conv2D(4, 3, groups=2),
        (8, 8, 6),
        "float32",
        conv2d_params(3, 3, 4),
        "(3×3×(6/2) + 1) × 4",
    ),
    (lambda: layers.Conv1D(2, 3), (5, 6), "float32", conv1d_params(3, 6, 2), "(3×6 + 1) × 2"),
    (
        lambda: layers.Conv1D(2, 3, use_bias=False),
        (5, 6),
        "float32",
        conv1d_params(3, 6, 2, False),
        "(3×6) × 2",
    ),
    (
        lambda: layers.Conv1D(4, 3, data_format="channels_first"),
        (3, 8),
        "float32",
        conv1d_params(3, 3, 4),
        "(3×3 + 1) × 4",
    ),
    (lambda: layers.Embedding(20, 6), (5,), "int32", embedding_params(20, 6), "20 × 6"),
    (lambda: layers.SimpleRNN(2), (5, 6), "float32", simple_rnn_params(6, 2), "2×(6 + 2) + 2"),
    (
        lambda: layers.SimpleRNN(3, use_bias=False),
        (5, 4),
        "float32",
        simple_rnn_params(4, 3, False),
        "3×(4 + 3)",
    ),
    (lambda: layers.LSTM(7), (5, 6), "float32", lstm_params(6, 7), "4 × (7×(6 + 7) + 7)"),
    (
        lambda: layers.LSTM(3, use_bias=False),
        (5, 4),
        "float32",
        lstm_params(4, 3, False),
        "4 × (3×(4 + 3))",
    ),
    (lambda: layers.GRU(3), (5, 7), "float32", gru_params(7, 3), "3 × (3×(7 + 3) + 2×3)"),
    (
        lambda: layers.GRU(3, reset_after=False),
        (5, 4),
        "float32",
        gru_params(4, 3, reset_after=False),
        "3 × (3×(4 + 3) + 3)",
    ),
    (
        lambda: layers.GRU(3, use_bias=False),
        (5, 4),
        "float32",
        gru_params(4, 3, False),
        "3 × (3×(4 + 3))",
    ),
    (lambda: layers.BatchNormalization(), (8, 8, 4), "float32", batchnorm_params(4), "4 × 4"),
    (lambda: layers.BatchNormalization(axis=1), (3, 8, 8), "float32", batchnorm_params(3), "4 × 3"),
    (
        lambda: layers.BatchNormalization(center=False),
        (5,),
        "float32",
        batchnorm_params(5, center=False),
        "3 × 5",
    ),
    (
        lambda: layers.BatchNormalization(scale=False, center=False),
        (5,),
        "float32",
        batchnorm_params(5, center=False, scale=False),
        "2 × 5",
    ),
]


@pytest.mark.parametrize(
    "make, shape, dtype, value, expression",
    CASES,
    ids=[f"{c[0]().__class__.__name__}-{i}" for i, c in enumerate(CASES)],
)
def test_formula_matches_keras(make, shape, dtype, value, expression):
    layer = built(make(), shape, dtype)
    assert value == layer.count_params()  # the plain function agrees with Keras...
    formula = formula_for(layer)
    assert formula == Formula(expression, value)  # ...and so does the formula read off the layer
    assert int(formula) == value


def test_textbook_values():
    assert dense_params(64, 10) == 650
    assert conv2d_params(3, 1, 32) == 320
    assert conv2d_params((3, 3), 1, 32) == 320
    assert conv1d_params(3, 6, 2) == 38
    assert embedding_params(1000, 64) == 64_000
    assert simple_rnn_params(8, 16) == 16 * 24 + 16
    assert lstm_params(8, 16) == 1600
    assert gru_params(8, 16) == 3 * (16 * 24 + 32)
    assert gru_params(8, 16, reset_after=False) == 3 * (16 * 24 + 16)
    assert batchnorm_params(32) == 128
    assert batchnorm_params(32, trainable_only=True) == 64


@pytest.mark.parametrize(
    "kwargs, total, trainable",
    [({}, 20, 10), ({"center": False}, 15, 5), ({"scale": False, "center": False}, 10, 0)],
)
def test_batchnorm_trainable_only_matches_keras(kwargs, total, trainable):
    layer = built(layers.BatchNormalization(**kwargs), (5,))
    assert batchnorm_params(5, **kwargs) == layer.count_params() == total
    assert (
        batchnorm_params(5, trainable_only=True, **kwargs)
        == count_params(layer, trainable=True)
        == trainable
    )


def test_formula_str():
    assert str(Formula("(64 + 1) × 10", 650)) == "(64 + 1) × 10 = 650"
    assert str(Formula("20 × 600", 12000)) == "20 × 600 = 12,000"


def test_formula_for_an_explicit_input_shape():
    layer = layers.Dense(3)
    assert formula_for(layer, (None, 8)) == Formula(
        "(8 + 1) × 3", 27
    )  # works before the layer is built


@pytest.mark.parametrize(
    "make, shape",
    [
        (lambda: layers.Flatten(), (3, 3)),
        (lambda: layers.Dropout(0.5), (3,)),
        (lambda: layers.Activation("relu"), (3,)),
    ],
)
def test_no_formula_for_other_kinds(make, shape):
    assert formula_for(built(make(), shape)) is None


def test_formula_table_of_the_zoo_matches_keras_everywhere(zoo):
    table = formula_table(zoo)
    assert table.title == "Formula vs Keras for 'zoo'"
    # one row per layer with parameters, in data-flow order (depth in the graph)
    assert table.column("layer") == ["embed", "conv", "conv1d", "lstm", "bn", "gru", "rnn", "head"]
    assert all(table.column("match")), str(table)
    assert table.column("by formula") == table.column("Keras")
    rows = {row[0]: row for row in table.rows}
    assert rows["conv1d"][1:4] == ["Conv1D", "(3×6) × 2", 36]
    assert rows["gru"][2] == "3 × (3×(7 + 3) + 2×3)"
    assert rows["head"][3] == zoo.get_layer("head").count_params()
    # layers without parameters or without a formula are left out
    assert not {"pool", "maxpool", "join"} & set(rows)


def test_formula_table_lists_a_shared_layer_once(siamese, tied_lm):
    assert formula_table(siamese).column("layer") == ["encoder", "score"]
    table = formula_table(tied_lm)
    assert table.column("layer") == ["embed", "mix"]
    assert table.rows[0][2:] == ["11 × 4", 44, 44, True]  # the first call's input: token ids


def test_formula_table_flags_a_mismatch():
    class Wider(layers.Dense):
        """A Dense that secretly adds a weight: the formula no longer matches."""

        def build(self, input_shape):
            super().build(input_shape)
            self.extra = self.add_weight(shape=(5,), name="extra")

    x = keras.Input((4,))
    model = keras.Model(x, Wider(2, name="wider")(x))
    row = formula_table(model).rows[0]
    assert row[3:] == [10, 15, False]
