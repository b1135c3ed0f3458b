"""helpers.checks.across_models: checks that judge several models together, on models whose
sharing is known by construction (one base object called by two models, a deepcopy, a clone,
models loaded from files)."""

from __future__ import annotations

import copy
from pathlib import Path

import keras
import pytest
from keras import layers

from helpers.checks import (
    CheckFailed,
    assert_no_shared_variables,
    assert_shared_across,
    assert_trainable_predictions,
)


def _head_on(base: keras.layers.Layer, units: int, name: str) -> keras.Model:
    image = keras.Input((6,))
    return keras.Model(image, layers.Dense(units, name="head")(base(image)), name=name)


def _base() -> keras.Sequential:
    return keras.Sequential([keras.Input((6,)), layers.Dense(4, name="hidden")], name="base")


@pytest.fixture
def pair() -> tuple[keras.Model, keras.Model]:
    """Two models calling ONE base: 28 base parameters, heads of 5 and 10."""
    base = _base()
    return _head_on(base, 1, "first"), _head_on(base, 2, "second")


class _Subclassed(keras.Model):
    """A subclassed model around a given base: the checks must not need a graph."""

    def __init__(self, base, **kwargs):
        super().__init__(**kwargs)
        self.base = base
        self.head = layers.Dense(3, name="head")

    def call(self, x):
        return self.head(self.base(x))


# ------------------------------------------------------------ assert_shared_across


def test_shared_across_passes_for_one_base_in_every_model(pair):
    assert_shared_across(list(pair), "base")


def test_shared_across_passes_for_a_subclassed_model_on_the_same_base(pair):
    other = _Subclassed(pair[0].get_layer("base"), name="sub")
    other(keras.ops.zeros((1, 6)))
    assert_shared_across([pair[0], other], "base")


def test_shared_across_fails_for_a_base_each_and_groups_the_models():
    shared = _base()
    models = [_head_on(shared, 1, "a"), _head_on(shared, 1, "b"), _head_on(_base(), 1, "c")]
    with pytest.raises(CheckFailed) as failed:
        assert_shared_across(models, "base", hint="save one model")
    message = str(failed.value)
    assert "The 3 models should share one 'base', but they hold 2 different ones" in message
    assert "'a', 'b': one 'base' of 28 parameters" in message
    assert "'c': its own 'base' of 28 parameters" in message
    assert message.endswith("Hint: save one model")


def test_shared_across_fails_for_models_saved_apart(pair, tmp_path: Path):
    loaded = []
    for model in pair:
        model.save(tmp_path / f"{model.name}.keras")
        loaded.append(keras.saving.load_model(tmp_path / f"{model.name}.keras"))
    with pytest.raises(CheckFailed, match="they hold 2 different ones"):
        assert_shared_across(loaded, "base")


def test_shared_across_names_a_missing_layer(pair):
    with pytest.raises(CheckFailed, match="has no layer named 'trunk'"):
        assert_shared_across(list(pair), "trunk")


def test_shared_across_needs_two_models(pair):
    with pytest.raises(CheckFailed, match="at least two models"):
        assert_shared_across([pair[0]], "base")


# ------------------------------------------------------ assert_no_shared_variables


def test_no_shared_variables_passes_for_a_deepcopy_and_a_clone_with_values(pair):
    first, _ = pair
    assert_no_shared_variables(copy.deepcopy(first), first)
    clone = keras.models.clone_model(first)
    clone.set_weights(first.get_weights())
    assert_no_shared_variables(clone, first)


def test_no_shared_variables_fails_for_two_models_on_one_base_and_names_the_variables(pair):
    with pytest.raises(CheckFailed) as failed:
        assert_no_shared_variables(*pair)
    message = str(failed.value)
    assert "'first' and 'second' should share no variable, but 2 are one variable in both" in (
        message
    )
    assert "base/hidden/kernel (6, 4), base/hidden/bias (4,)" in message
    assert "Training 'second' would change 'first'" in message


def test_no_shared_variables_fails_for_a_clone_that_keeps_the_base(pair):
    first, _ = pair
    keep = keras.models.clone_model(first, clone_function=lambda layer: layer)
    with pytest.raises(CheckFailed, match="4 are one variable in both"):
        assert_no_shared_variables(keep, first)


# ---------------------------------------------------- assert_trainable_predictions


def test_trainable_predictions_pass_when_each_count_is_right(pair):
    first, second = pair
    second.trainable = False  # freezes the shared base in `first` too
    assert_trainable_predictions({"first": first, "second": second}, {"first": 5, "second": 0})


def test_trainable_predictions_name_each_wrong_count(pair):
    first, second = pair
    second.trainable = False
    with pytest.raises(CheckFailed) as failed:
        assert_trainable_predictions(
            {"first": first, "second": second}, {"first": 33, "second": 0}, hint="one base"
        )
    message = str(failed.value)
    assert "1 of 2 predictions is wrong:\n  - first can train 5 parameters, not 33." in message
    assert message.endswith("Hint: one base")


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ([5, 0], "should be a dict {model name: number}, not a list"),
        ({"first": 5}, "Give one number for each of ['first', 'second']"),
        ({"first": "5", "second": 0}, "The prediction for 'first' should be a whole number"),
        ({"first": True, "second": 0}, "The prediction for 'first' should be a whole number"),
    ],
)
def test_trainable_predictions_explain_an_answer_of_the_wrong_form(pair, answer, message):
    models = {"first": pair[0], "second": pair[1]}
    with pytest.raises(CheckFailed, match=message.replace("[", r"\[").replace("{", r"\{")):
        assert_trainable_predictions(models, answer)
