"""helpers.formulas on the layers beyond the textbook five: convolutions of every kind,
normalization, attention, LoRA, untied reversible embeddings, custom layers, unknown
dimensions, and every layer of Keras's own applications."""

from __future__ import annotations

import keras
import pytest
from keras import layers

from helpers.formulas import Formula, formula_for, formula_table, formula_total, rule_for


def built(layer: keras.layers.Layer, *shapes: tuple, dtype: str = "float32") -> keras.layers.Layer:
    layer(*[keras.Input(shape, dtype=dtype) for shape in shapes])
    return layer


# (make, input shapes without batch, expected expression or None to skip that check)
KINDS = [
    (lambda: layers.Conv3D(4, 3), [(6, 6, 6, 2)], "(3×3×3×2 + 1) × 4"),
    (
        lambda: layers.Conv3D(4, (1, 2, 3), use_bias=False, groups=2),
        [(6, 6, 6, 4)],
        "(1×2×3×(4/2)) × 4",
    ),
    (lambda: layers.Conv1DTranspose(3, 2), [(5, 4)], "(2×4 + 1) × 3"),
    (lambda: layers.Conv2DTranspose(3, 3, strides=2), [(5, 5, 2)], "(3×3×2 + 1) × 3"),
    (
        lambda: layers.Conv2DTranspose(3, 3, data_format="channels_first"),
        [(2, 5, 5)],
        "(3×3×2 + 1) × 3",
    ),
    (lambda: layers.Conv3DTranspose(2, 2, use_bias=False), [(4, 4, 4, 3)], "(2×2×2×3) × 2"),
    (lambda: layers.DepthwiseConv2D(3), [(8, 8, 2)], "(3×3 + 1) × 2×1"),
    (
        lambda: layers.DepthwiseConv2D((3, 1), depth_multiplier=3, use_bias=False),
        [(8, 8, 2)],
        "(3×1) × 2×3",
    ),
    (lambda: layers.DepthwiseConv1D(3, depth_multiplier=2), [(8, 5)], "(3 + 1) × 5×2"),
    (lambda: layers.SeparableConv2D(6, 3), [(8, 8, 4)], "3×3×4×1 + (4×1 + 1) × 6"),
    (
        lambda: layers.SeparableConv2D(6, 3, depth_multiplier=2, use_bias=False),
        [(8, 8, 4)],
        "3×3×4×2 + (4×2) × 6",
    ),
    (lambda: layers.SeparableConv1D(5, 2), [(8, 3)], "2×3×1 + (3×1 + 1) × 5"),
    (lambda: layers.LayerNormalization(), [(7, 5)], "2 × 5"),
    (lambda: layers.LayerNormalization(axis=[-2, -1]), [(7, 5)], "2 × 7×5"),
    (lambda: layers.LayerNormalization(center=False), [(5,)], "1 × 5"),
    (lambda: layers.RMSNormalization(), [(7, 5)], "5"),
    (lambda: layers.GroupNormalization(groups=2), [(7, 4)], "2 × 4"),
    (lambda: layers.Normalization(), [(6,)], "2 × 6 + 1"),
    (lambda: layers.Normalization(mean=0.5, variance=2.0), [(6,)], "0 (mean and variance given)"),
    (lambda: layers.BatchNormalization(axis=1, center=False), [(3, 4, 5)], "3 × 3"),
    (lambda: layers.EinsumDense("ab,bc->ac", output_shape=4, bias_axes="c"), [(3,)], "3×4 + 4"),
    (lambda: layers.EinsumDense("abc,cde->abde", output_shape=(5, 2, 3)), [(5, 6)], "6×2×3"),
    (
        lambda: layers.MultiHeadAttention(2, 4),
        [(5, 8), (5, 8)],
        "2×4×(8 + 1) + 2×4×(8 + 1) + 2×4×(8 + 1) + (2×4 + 1)×8",
    ),
    (
        lambda: layers.MultiHeadAttention(3, 4, value_dim=2, use_bias=False),
        [(5, 8), (7, 6)],
        "3×4×(8) + 3×4×(6) + 3×2×(6) + (3×2)×8",
    ),
    (lambda: layers.MultiHeadAttention(2, 4, output_shape=10), [(5, 8), (5, 6)], None),
    (lambda: layers.SimpleRNN(4, use_bias=False), [(None, 3)], "4×(3 + 4)"),
    (lambda: layers.LSTM(4, use_bias=False), [(None, 3)], "4 × (4×(3 + 4))"),
    (lambda: layers.GRU(4, reset_after=False, use_bias=False), [(None, 3)], "3 × (4×(3 + 4))"),
    (lambda: layers.Bidirectional(layers.LSTM(3)), [(5, 2)], None),
]


@pytest.mark.parametrize(
    "make, shapes, expression",
    KINDS,
    ids=[f"{k[0]().__class__.__name__}-{i}" for i, k in enumerate(KINDS)],
)
def test_formula_matches_keras_for_every_common_kind(make, shapes, expression):
    layer = built(make(), *shapes)
    formula = formula_for(layer)
    if isinstance(layer, layers.Bidirectional):
        assert formula is None  # a wrapper: its inner layers have formulas, it has none of its own
        return
    assert formula is not None and formula.value == layer.count_params(), (
        formula,
        layer.count_params(),
    )
    if expression is not None:
        assert formula.expression == expression
    assert rule_for(layer)


def test_gated_attention_counts_its_gate():
    if "use_gate" not in keras.layers.MultiHeadAttention.__init__.__code__.co_varnames:
        pytest.skip("this Keras has no gated attention")
    layer = built(layers.MultiHeadAttention(2, 4, use_gate=True), (5, 8), (5, 8))
    assert formula_for(layer).value == layer.count_params()


@pytest.mark.parametrize(
    "make, shape",
    [
        (lambda: layers.Dense(6), (5,)),
        (lambda: layers.Embedding(30, 4), (5,)),
        (lambda: layers.EinsumDense("ab,bc->ac", output_shape=4, bias_axes="c"), (3,)),
    ],
)
def test_lora_adds_its_two_factors(make, shape):
    layer = built(make(), shape, dtype="int32" if "mbedding" in str(make()) else "float32")
    before = formula_for(layer).value
    layer.enable_lora(2)
    formula = formula_for(layer)
    assert formula.value == layer.count_params() > before
    assert formula.expression.endswith(")") and " + 2×(" in formula.expression
    assert rule_for(layer).endswith("(LoRA)")


@pytest.mark.parametrize("tie", [True, False])
def test_reversible_embedding_tied_or_not(tie):
    layer = layers.ReversibleEmbedding(50, 8, tie_weights=tie)
    tokens = keras.Input((None,), dtype="int32")
    layer(layer(tokens), reverse=True)
    formula = formula_for(layer)
    assert formula.value == layer.count_params() == (1 if tie else 2) * 50 * 8
    assert formula.expression == ("50 × 8" if tie else "50 × 8 + 8 × 50")
    assert ("untied" in rule_for(layer)) is not tie


def test_a_custom_layer_without_get_config_has_no_formula_and_no_crash(tied_autoencoder):
    decoder = tied_autoencoder.get_layer("decoder")
    with pytest.raises(NotImplementedError):
        decoder.get_config()  # the classic DenseTranspose(dense): Keras cannot describe it
    assert formula_for(decoder) is None
    assert rule_for(decoder) is None
    table = formula_table(tied_autoencoder)
    assert table.column("layer") == ["encoder"]
    assert table.footer == [
        "No formula for 'decoder' (DenseTransposed): count their variables' sizes."
    ]
    assert formula_total(tied_autoencoder) == (None, ["decoder"])


def test_variable_length_text_model_gets_closed_forms():
    tokens = keras.Input((None,), dtype="int32")
    h = layers.Embedding(100, 8, name="embed")(tokens)
    h = layers.LSTM(6, name="lstm")(h)
    model = keras.Model(tokens, layers.Dense(3, name="head")(h))
    table = formula_table(model)
    assert table.column("layer") == ["embed", "lstm", "head"]
    assert table.column("match") == [True, True, True]
    assert formula_total(model) == (model.count_params(), [])


def test_an_unknown_dimension_the_formula_needs_is_not_a_closed_form():
    formula = formula_for(layers.Dense(3), (None, None))
    assert formula == Formula(
        "(inputs + 1) × units", None, "the number of input features (last dimension) is unknown"
    )
    assert not formula.closed_form
    assert str(formula).endswith(
        "not a closed form (the number of input features (last dimension) is unknown)"
    )
    with pytest.raises(ValueError, match="not a closed form"):
        int(formula)
    # A dimension the formula does not need may be unknown: closed form all the same.
    assert formula_for(layers.Dense(3), (None, None, 4)) == Formula("(4 + 1) × 3", 15)
    assert formula_for(layers.Conv2D(2, 3), (None, None, None, 3)).value == 56


def test_an_unbuilt_layer_says_why_there_is_no_number():
    formula = formula_for(layers.Dense(3))
    assert formula.value is None and "not been called" in formula.note


def test_a_model_used_as_a_layer_sums_its_layers():
    inner = keras.Sequential([keras.Input((4,)), layers.Dense(3), layers.Dense(2)], name="inner")
    x = keras.Input((4,))
    model = keras.Model(x, layers.Dense(1, name="out")(inner(x)))
    assert formula_for(inner) == Formula("the sum of its 2 layers' formulas", 15 + 8)
    assert formula_total(model) == (model.count_params(), [])


A = keras.applications
APPLICATIONS = [  # (builder, smallest input side); the layers they use between them
    (A.MobileNetV2, 32),  # depthwise convolutions, ReLU6
    (A.MobileNetV3Small, 32),  # rescaling, squeeze-and-excite
    (A.EfficientNetB0, 32),  # Normalization, swish
    (A.ResNet50V2, 32),  # pre-activation blocks
    (A.DenseNet121, 32),  # 400+ layers, concatenations
    (A.NASNetMobile, 32),  # separable convolutions, 700+ layers
    (A.InceptionResNetV2, 75),  # convolutions with bias, scaled residuals
    (A.Xception, 71),  # separable convolutions
    (A.ConvNeXtTiny, 32),  # LayerNormalization, LayerScale, Sequential sub-models
]


@pytest.mark.parametrize("build, side", APPLICATIONS, ids=[b.__name__ for b, _ in APPLICATIONS])
def test_formula_and_keras_agree_on_keras_applications(build, side):
    try:
        model = build(weights=None, input_shape=(side, side, 3))
    except ValueError as refused:  # NASNet on PyTorch: "not available with the torch backend"
        if "not available" not in str(refused):
            raise
        pytest.skip(str(refused))
    table = formula_table(model)
    wrong = [row for row in table.rows if row[-1] is not True]
    assert not wrong, wrong
    assert not table.footer
    assert formula_total(model) == (model.count_params(), [])
