"""assert_sharing_predictions: right predictions pass, each wrong one is named."""

from __future__ import annotations

import keras
import pytest
from keras import layers

from helpers import CheckFailed, assert_sharing_predictions


@pytest.fixture
def copies() -> keras.Model:
    """An encoder beside a rebuilt twin, a clone and an alias of it (only the alias shares)."""

    def encoder(name: str) -> keras.Sequential:
        return keras.Sequential([keras.Input((4,)), layers.Dense(3, name="hidden")], name=name)

    original, twin = encoder("encoder"), encoder("twin")
    clone = keras.models.clone_model(original)
    clone.name = "clone"
    alias = keras.models.clone_model(original, clone_function=lambda layer: layer)
    alias.name = "alias"
    x = keras.Input((4,), name="x")
    return keras.Model(x, [m(x) for m in (original, twin, clone, alias)], name="copies")


def test_right_predictions_pass(copies):
    assert_sharing_predictions(copies, "encoder", {"twin": False, "clone": False, "alias": True})


def test_each_wrong_prediction_is_named(copies):
    with pytest.raises(CheckFailed) as failure:
        assert_sharing_predictions(
            copies,
            "encoder",
            {"twin": False, "clone": True, "alias": False},
            hint="clone_model makes new variables.",
        )
    message = str(failure.value)
    assert message.startswith("2 of 3 predictions are wrong")
    assert "'clone' does NOT share weights with 'encoder', but you predicted it does." in message
    assert "'alias' does share weights with 'encoder', but you predicted it does not." in message
    assert "twin" not in message
    assert message.endswith("Hint: clone_model makes new variables.")


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_a_prediction_must_be_a_bool(copies, value):
    with pytest.raises(CheckFailed, match="should be True or False"):
        assert_sharing_predictions(copies, "encoder", {"clone": value})


def test_predictions_must_be_a_dict(copies):
    with pytest.raises(CheckFailed, match="should be a dict"):
        assert_sharing_predictions(copies, "encoder", [("clone", False)])


def test_unknown_layer_name_lists_the_layers(copies):
    with pytest.raises(CheckFailed, match="no layer named 'klone'.*'clone'"):
        assert_sharing_predictions(copies, "encoder", {"klone": False})
