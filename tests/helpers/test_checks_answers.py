"""Checks added for lesson 00: a learner's *answers about* a model (call counts, variable
counts); assert_sharing_map reporting a missing layer together with the other problems;
assert_separate_copies naming the settings in which two same-shaped layers differ
(sharing.config_differences)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

from helpers import (
    CheckFailed,
    assert_call_counts,
    assert_separate_copies,
    assert_sharing_map,
    assert_variable_count,
    config_differences,
)


@pytest.fixture
def normed() -> keras.Model:
    """A Dense called twice, then BatchNormalization: 2 + 4 variables, 2 of them frozen."""
    a, b = keras.Input((4,), name="a"), keras.Input((4,), name="b")
    encoder = layers.Dense(3, name="encoder")
    joined = layers.Add(name="join")([encoder(a), encoder(b)])
    return keras.Model([a, b], layers.BatchNormalization(name="norm")(joined), name="normed")


def message(check, *args) -> str:
    with pytest.raises(CheckFailed) as failure:
        check(*args)
    return str(failure.value)


# ------------------------------------------------------------------ assert_call_counts


def test_call_counts_right_answer_passes(siamese):
    assert_call_counts(siamese, {"encoder": 2, "difference": 1, "score": 1})


def test_call_counts_accept_zero_for_layers_outside_the_model(siamese):
    assert_call_counts(siamese, {"encoder": 2, "difference": 1, "score": 1, "spare": 0, "left": 0})


def test_call_counts_wrong_count_says_what_to_recount_not_the_answer(siamese):
    text = message(assert_call_counts, siamese, {"encoder": 1, "difference": 1, "score": 1})
    assert "'encoder': 1 is not its number of calls. Recount" in text
    assert "2" not in text and "encoder[" not in text  # neither the count nor the calls
    assert "difference" not in text and "score" not in text


def test_call_counts_missing_weightless_layer_is_explained(siamese):
    text = message(assert_call_counts, siamese, {"encoder": 2, "score": 1})
    assert "leaves out 'difference' (Subtract)" in text
    assert "no variables, but each use of it is still a call" in text


def test_call_counts_missing_layer_with_weights(siamese):
    text = message(assert_call_counts, siamese, {"encoder": 2, "difference": 1})
    assert "leaves out 'score' (Dense)." in text
    assert "no variables" not in text


def test_call_counts_reject_inputs_and_unknown_layers(siamese):
    text = message(
        assert_call_counts,
        siamese,
        {"left": 1, "encoder": 2, "difference": 1, "score": 1, "spare": 1},
    )
    assert "'left' is an input" in text
    assert "no layer named 'spare', so its count is 0, not 1" in text


def test_call_counts_reports_all_problems_at_once(siamese):
    text = message(assert_call_counts, siamese, {"encoder": 3, "score": 2})
    assert text.count("\n  - ") == 3


@pytest.mark.parametrize(
    "answer, fragment",
    [
        ([("encoder", 2)], "as a dict"),
        (None, "got a None"),
        ({"encoder": 2.0, "difference": 1, "score": 1}, "whole number, not 2.0"),
        ({"encoder": True, "difference": 1, "score": 1}, "whole number, not True"),
    ],
)
def test_call_counts_wrong_types(siamese, answer, fragment):
    assert fragment in message(assert_call_counts, siamese, answer)


def test_call_counts_accept_numpy_integers(siamese):
    assert_call_counts(siamese, {"encoder": np.int64(2), "difference": 1, "score": 1})


def test_call_counts_hint_is_appended(siamese):
    with pytest.raises(CheckFailed, match="Hint: read the code again"):
        assert_call_counts(siamese, {}, hint="read the code again")


# --------------------------------------------------------------- assert_variable_count


def test_variable_count_right_answer_passes(siamese, normed):
    assert_variable_count(siamese, 4)
    assert_variable_count(normed, 6)
    assert len(normed.weights) == 6


def test_variable_count_once_per_call_is_diagnosed(siamese):
    text = message(assert_variable_count, siamese, 6)  # encoder's 2 counted twice, score 2
    assert "6 is not the number of variables of the model 'siamese'" in text
    assert "once per call. 'encoder' is called 2 times, but every call of a layer" in text
    assert "4" not in text  # the answer is not given away


def test_variable_count_frozen_left_out_is_diagnosed(normed):
    text = message(assert_variable_count, normed, 4)
    assert "left out the 2 non-trainable variables (norm/moving_mean, norm/moving_variance)" in text


def test_variable_count_params_instead_of_variables_is_diagnosed(siamese):
    params = siamese.count_params()
    text = message(assert_variable_count, siamese, params)
    assert f"{params} is the number of parameters" in text


def test_variable_count_other_wrong_answer_lists_layers(siamese):
    text = message(assert_variable_count, siamese, 3)
    assert "3 is not the number of variables" in text
    assert "once per call" not in text and "parameters" not in text
    assert "Recount: list each layer the model calls" in text and "4" not in text


@pytest.mark.parametrize("answer", [4.0, "4", None, True])
def test_variable_count_wrong_types(siamese, answer):
    assert "whole number" in message(assert_variable_count, siamese, answer)


# ----------------------------------------------------- assert_sharing_map, missing layer


def test_sharing_map_reports_missing_layer_with_other_problems():
    """One head shared by both branches where two heads were asked for: the learner sees
    that 'title_head' is called twice AND that 'body_head' does not exist."""
    a, b = keras.Input((4,), name="title"), keras.Input((4,), name="body")
    head = layers.Dense(2, name="title_head")
    model = keras.Model([a, b], layers.Concatenate(name="join")([head(a), head(b)]), name="news")
    text = message(
        lambda: assert_sharing_map(
            model, calls={"title_head": 1, "body_head": 1}, groups=[["title_head", "body_head"]]
        )
    )
    assert "'title_head' should be called 1 time, but it is called 2 times." in text
    assert "no layer named 'body_head'" in text
    assert text.count("no layer named 'body_head'") == 1
    assert "should share variables as one group" not in text  # not checked for a missing name


def test_variable_count_once_per_call_names_every_repeated_layer():
    x = keras.Input((4,), name="x")
    a, b = layers.Dense(4, name="a"), layers.Dense(4, name="b")
    model = keras.Model(x, b(b(b(a(a(x))))), name="loops")
    text = message(assert_variable_count, model, 10)  # 2 x 2 calls + 2 x 3 calls
    assert "'a' is called 2 times and 'b' is called 3 times, but every call" in text


# --------------------------------------------- assert_separate_copies, config_differences


def heads(activation_b: str) -> keras.Model:
    x = keras.Input((4,), name="x")
    a = layers.Dense(2, activation="relu", name="head_a")(x)
    b = layers.Dense(2, activation=activation_b, name="head_b")(x)
    return keras.Model(x, layers.Concatenate(name="join")([a, b]), name="heads")


def test_config_differences_names_the_setting():
    assert config_differences(
        layers.Dense(4, activation="relu"), layers.Dense(4, activation="tanh")
    ) == {"activation": ("relu", "tanh")}
    assert config_differences(layers.Dense(4, name="p"), layers.Dense(4, name="q")) == {}


def test_separate_copies_with_different_settings_names_them():
    assert_separate_copies(heads("relu"), "head_a", "head_b")
    text = message(assert_separate_copies, heads("tanh"), "head_a", "head_b")
    assert "settings differ: activation is 'relu' in 'head_a' and 'tanh' in 'head_b'" in text


def test_separate_copies_with_different_shapes_describes_both():
    x = keras.Input((4,), name="x")
    model = keras.Model(
        x,
        layers.Concatenate(name="join")(
            [layers.Dense(2, name="small")(x), layers.Dense(3, name="large")(x)]
        ),
        name="sizes",
    )
    text = message(assert_separate_copies, model, "small", "large")
    assert "variables of shapes [(4, 2), (2,)]" in text and "[(4, 3), (3,)]" in text
