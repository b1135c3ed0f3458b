"""Checks for the capacity lesson: predicted counts, capacity ratios, and counting rules."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

from helpers import CheckFailed, assert_capacity_ratio, assert_predicted_count, rule_for
from helpers.grading import pristine


def two_dense() -> keras.Model:
    """Dense(32) then Dense(32) on 64 features: 2,080 + 1,056 = 3,136 parameters."""
    x = keras.Input((64,), name="features")
    h = layers.Dense(32, name="block_dense1")(x)
    return keras.Model(x, layers.Dense(32, name="block_dense2")(h), name="dense_block")


def pyramid(depths=(1, 2, 4), filters=(8, 8, 8)) -> keras.Model:
    """A stem, then three conv stages; stage i has depths[i] layers of filters[i] filters."""
    image = keras.Input((8, 8, 1), name="image")
    h = layers.Conv2D(8, 3, padding="same", name="stem")(image)
    for stage, (depth, width) in enumerate(zip(depths, filters, strict=True), start=1):
        for i in range(1, depth + 1):
            h = layers.Conv2D(width, 3, padding="same", name=f"stage{stage}_conv{i}")(h)
    h = layers.GlobalAveragePooling2D(name="pool")(h)
    return keras.Model(image, layers.Dense(10, name="head")(h), name="pyramid")


# ------------------------------------------------------------------------- rules


@pytest.mark.parametrize(
    "layer, rule",
    [
        (layers.Dense(4), "(inputs + 1) × units"),
        (layers.Dense(4, use_bias=False), "inputs × units"),
        (layers.Conv2D(4, 3), "(kernel_h × kernel_w × in_channels + 1) × filters"),
        (layers.Conv1D(4, 3), "(kernel × in_channels + 1) × filters"),
        (layers.Embedding(10, 4), "vocabulary × dim"),
        (layers.LSTM(4), "4 × (units × (inputs + units) + units)"),
        (layers.GRU(4), "3 × (units × (inputs + units) + 2 × units)"),
        (layers.GRU(4, reset_after=False), "3 × (units × (inputs + units) + units)"),
        (layers.SimpleRNN(4), "units × (inputs + units) + units"),
        (layers.Flatten(), None),
    ],
)
def test_rule_for_each_kind(layer, rule):
    assert rule_for(layer) == rule


# ---------------------------------------------------------------- predicted counts


def test_right_prediction_passes_for_model_and_layer():
    model = two_dense()
    assert_predicted_count(3136, model)
    assert_predicted_count(np.int64(3136), model)  # numpy integers are whole numbers too
    assert_predicted_count(1056, model.get_layer("block_dense2"))


def test_wrong_prediction_names_the_rule_per_layer_without_the_answer():
    with pytest.raises(CheckFailed) as caught:
        assert_predicted_count(3072, two_dense(), name="dense_count")
    message = str(caught.value)
    assert "dense_count is 3,072: not the parameter count of 'dense_block'." in message
    assert "3,136" not in message and "64 more" not in message  # the visible check gives no answer
    assert (
        "'block_dense1', Dense(units=32) on input (None, 64):\n      (inputs + 1) × units"
        in message
    )
    assert (
        "'block_dense2', Dense(units=32) on input (None, 32):\n      (inputs + 1) × units"
        in message
    )
    assert "2,080" not in message  # the rule, not the worked answer


def test_revealed_message_shows_each_formula_and_the_total():
    with pytest.raises(CheckFailed) as caught:
        assert_predicted_count(4000, two_dense(), reveal=True)
    message = str(caught.value)
    assert "864 fewer than predicted" in message
    assert "(64 + 1) × 32 = 2,080" in message and "(32 + 1) × 32 = 1,056" in message
    assert "total: 2,080 + 1,056 = 3,136" in message


def test_conv_and_lstm_layers_are_explained_too():
    image = keras.Input((8, 8, 1))
    h = layers.Conv2D(8, 3, padding="same", name="c1")(image)
    conv = keras.Model(image, layers.Conv2D(8, 3, padding="same", name="c2")(h), name="convs")
    with pytest.raises(
        CheckFailed,
        match=r"'c2', Conv2D\(filters=8, kernel_size=\(3, 3\)\) on input \(None, 8, 8, 8\)",
    ):
        assert_predicted_count(600, conv)
    rows = keras.Input((8, 8))
    lstm = keras.Model(rows, layers.LSTM(12, name="lstm")(rows), name="reader")
    with pytest.raises(CheckFailed, match=r"4 × \(12×\(8 \+ 12\) \+ 12\) = 1,008"):
        assert_predicted_count(1000, lstm, reveal=True)


@pytest.mark.parametrize("value", [3136.0, "3136", None, True, ...])
def test_prediction_must_be_a_whole_number(value):
    with pytest.raises(CheckFailed, match="should be a whole number"):
        assert_predicted_count(value, two_dense(), name="dense_count")


def test_shared_layer_is_counted_once():
    a, b = keras.Input((4,)), keras.Input((4,))
    shared = layers.Dense(3, name="shared")
    model = keras.Model([a, b], [shared(a), shared(b)], name="siamese")
    assert_predicted_count(15, model)
    with pytest.raises(CheckFailed, match="15 fewer"):
        assert_predicted_count(30, model, reveal=True)


# ----------------------------------------------------------------- capacity ratio


def test_depth_doubling_gives_the_ratio():
    assert_capacity_ratio(pyramid(depths=(1, 2, 4)), {"stage1": 1, "stage2": 2, "stage3": 4})


def test_width_doubling_overshoots_and_the_message_says_by_how_much():
    model = pyramid(depths=(1, 1, 1), filters=(8, 16, 32))
    # stage1: (9*8 + 1)*8 = 584; stage2: (9*8 + 1)*16 = 1,168 (x2);
    # stage3: (9*16 + 1)*32 = 4,640 (x7.95)
    with pytest.raises(CheckFailed) as caught:
        assert_capacity_ratio(model, {"stage1": 1, "stage2": 2, "stage3": 4})
    message = str(caught.value)
    assert "ratio 1 : 2 : 4 (each within 10%), but 'stage3' is off" in message
    assert "stage3      4,640  ×7.95  (wanted ×4)  99% too many" in message
    assert "stage2      1,168  ×2.00  (wanted ×2)  ok" in message
    assert "double its depth" in message


def test_too_small_block_is_reported_as_too_few():
    with pytest.raises(
        CheckFailed, match=r"(?s)'stage2' is off.*stage2 +584  ×1.00  \(wanted ×2\)  50% too few"
    ):
        assert_capacity_ratio(pyramid(depths=(1, 1, 4)), {"stage1": 1, "stage2": 2, "stage3": 4})


def test_tolerance_is_respected():
    model = pyramid(depths=(2, 3, 4))  # 1 : 1.5 : 2
    with pytest.raises(CheckFailed):
        assert_capacity_ratio(model, {"stage1": 2, "stage2": 4, "stage3": 4}, tolerance=0.1)
    assert_capacity_ratio(model, {"stage1": 2, "stage2": 3, "stage3": 4}, tolerance=0.01)


def test_missing_block_lists_the_layer_names():
    with pytest.raises(CheckFailed, match=r"no parameters in block\(s\) 'stage4'.*'stage1_conv1'"):
        assert_capacity_ratio(pyramid(), {"stage1": 1, "stage4": 2})


def test_prefixes_do_not_capture_longer_block_names():
    image = keras.Input((4,))
    h = layers.Dense(4, name="stage1_dense1")(image)  # 20
    h = layers.Dense(4, name="stage10_dense1")(h)  # 20
    model = keras.Model(image, layers.Dense(8, name="stage10_dense2")(h))  # + 40 = 60
    assert_capacity_ratio(model, {"stage1": 1, "stage10": 3})


def test_explicit_blocks_mapping():
    model = pyramid(depths=(1, 2, 4))
    assert_capacity_ratio(
        model,
        {"early": 1, "late": 2},
        blocks={
            "early": ["stage1_conv1", "stage2_conv1", "stage2_conv2"],
            "late": [f"stage3_conv{i}" for i in range(1, 5)],
        },
        tolerance=0.4,
    )


def test_bad_ratio_is_a_programming_error():
    with pytest.raises(ValueError):
        assert_capacity_ratio(pyramid(), {"stage1": 1})
    with pytest.raises(ValueError):
        assert_capacity_ratio(pyramid(), {"stage1": 1, "stage2": 0})


def test_pristine_copy_has_the_new_checks():
    grader = pristine()
    with pytest.raises(AssertionError, match="stage3"):
        grader.assert_capacity_ratio(
            pyramid(depths=(1, 1, 1), filters=(8, 16, 32)), {"stage1": 1, "stage2": 2, "stage3": 4}
        )
    with pytest.raises(AssertionError, match="64 more than predicted"):
        grader.assert_predicted_count(3072, two_dense(), reveal=True)
