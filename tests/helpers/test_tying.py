"""Checks and gradients for tied layers (lesson 03): a decoder reading its encoder's
kernel, a layer that tracks what it only borrows, an embedding used as output layer."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers, ops
from known_models import TiedEmbedding

from helpers import (
    CheckFailed,
    assert_gradient_split,
    assert_owns,
    assert_tied,
    gradient,
    gradients_by_call,
)


@pytest.fixture
def tied_lm() -> keras.Model:
    tokens = keras.Input((4,), dtype="int32", name="ids")
    embedding = TiedEmbedding(7, 3, name="tokens")
    hidden = layers.Dense(3, activation="tanh", name="mixer")(embedding(tokens))
    return keras.Model(tokens, embedding(hidden, reverse=True), name="tied_lm")


def sum_loss(out):
    return ops.sum(out**2)


# ------------------------------------------------------------------------ assert_owns


def test_owns_passes_for_a_decoder_that_owns_only_its_bias(tied_autoencoder):
    assert_owns(tied_autoencoder.get_layer("decoder"), ["bias"])


def test_owns_explains_a_tracked_reference(tracked_tied_autoencoder):
    with pytest.raises(CheckFailed) as failure:
        assert_owns(tracked_tied_autoencoder.get_layer("decoder"), ["bias"])
    message = str(failure.value)
    assert "encoder/kernel (6, 3), encoder/bias (3,) belong to 'encoder'" in message
    assert "object.__setattr__" in message


def test_owns_fails_for_a_decoder_with_a_kernel_of_its_own(untied_autoencoder):
    with pytest.raises(
        CheckFailed,
        match=r"should own exactly \['bias'\], but its weights are "
        r"decoder/kernel \(3, 6\), decoder/bias \(6,\)\.$",
    ):
        assert_owns(untied_autoencoder.get_layer("decoder"), ["bias"])


def test_owns_counts_nested_sublayers_as_own(wrapper_model):
    assert_owns(wrapper_model.get_layer("wrap"), ["kernel", "bias"])


# ---------------------------------------------------------------- assert_tied message


def test_tied_flags_a_variable_with_the_same_name_that_is_not_the_models(tied_autoencoder):
    # clone_model rebuilds the decoder from its config: it gets an encoder of its own,
    # outside the model, whose kernel has the very same path as the model's encoder kernel.
    class Savable(layers.Layer):
        def __init__(self, tied_to, **kwargs):
            super().__init__(**kwargs)
            if isinstance(tied_to, dict):
                tied_to = keras.saving.deserialize_keras_object(tied_to)
            object.__setattr__(self, "tied_to", tied_to)

        def call(self, x):
            return ops.matmul(x, ops.transpose(self.tied_to.kernel))

        def get_config(self):
            return {
                **super().get_config(),
                "tied_to": keras.saving.serialize_keras_object(self.tied_to),
            }

    x = keras.Input((6,), name="x")
    encoder = layers.Dense(3, name="encoder")
    model = keras.Model(x, Savable(encoder, name="decoder")(encoder(x)))
    assert_tied(model, "decoder", "encoder")
    clone = keras.models.clone_model(model)
    with pytest.raises(
        CheckFailed, match=r"encoder/kernel \(6, 3\) \(NOT the model's: another variable"
    ):
        assert_tied(clone, "decoder", "encoder")


# ------------------------------------------------------------ gradients of embeddings


def test_gradients_by_call_on_an_embedding_are_dense_and_add_up(tied_lm):
    matrix = tied_lm.get_layer("tokens").embeddings
    ids = np.array([[0, 1, 1, 2]])
    parts = gradients_by_call(tied_lm, matrix, ids, sum_loss)
    assert sorted(parts) == ["tokens[1]", "tokens[2]"]
    lookup = parts["tokens[1]"]
    assert isinstance(lookup, np.ndarray) and lookup.shape == (7, 3)
    # The lookup only touches the rows of the tokens it looked up.
    assert np.abs(lookup[3:]).max() == 0 and np.abs(lookup[:3]).max() > 0
    # The projection scores every word: all rows get a gradient.
    assert (np.abs(parts["tokens[2]"]).sum(axis=1) > 0).all()
    total = gradient(tied_lm, matrix, ids, sum_loss)
    np.testing.assert_allclose(lookup + parts["tokens[2]"], total, atol=1e-5)


# ------------------------------------------------------------ assert_gradient_split


def test_gradient_split_passes_for_the_real_split(tied_lm):
    matrix = tied_lm.get_layer("tokens").embeddings
    ids = np.array([[0, 1, 1, 2]])
    parts = gradients_by_call(tied_lm, matrix, ids, sum_loss)
    assert_gradient_split(
        tied_lm, matrix, ids, sum_loss, parts, gradient(tied_lm, matrix, ids, sum_loss)
    )


@pytest.mark.parametrize(
    "mistake, message",
    [
        ("not_a_dict", "should be a dict"),
        ("other_variable", "one gradient part per call that reads tokens/embeddings"),
        ("swapped", "Your gradient part for 'tokens[1]' is off by up to"),
        ("total_is_one_part", "Your total gradient for tokens/embeddings is off by up to"),
    ],
)
def test_gradient_split_fails_for_wrong_answers(tied_lm, mistake, message):
    matrix = tied_lm.get_layer("tokens").embeddings
    ids = np.array([[0, 1, 1, 2]])
    parts = gradients_by_call(tied_lm, matrix, ids, sum_loss)
    total = gradient(tied_lm, matrix, ids, sum_loss)
    if mistake == "not_a_dict":
        parts = list(parts.values())
    elif mistake == "other_variable":
        parts = gradients_by_call(tied_lm, tied_lm.get_layer("mixer").kernel, ids, sum_loss)
    elif mistake == "swapped":
        parts = {"tokens[1]": parts["tokens[2]"], "tokens[2]": parts["tokens[1]"]}
    elif mistake == "total_is_one_part":
        total = parts["tokens[2]"]
    with pytest.raises(CheckFailed, match=message.replace("[", r"\[").replace("]", r"\]")):
        assert_gradient_split(tied_lm, matrix, ids, sum_loss, parts, total)


def test_gradient_split_checks_that_the_parts_add_up(tied_lm, monkeypatch):
    """Were the split itself to lose a call, the parts would no longer add up to the whole
    gradient: the check compares the sum too, not only each part."""
    import helpers.checks.training

    matrix = tied_lm.get_layer("tokens").embeddings
    ids = np.array([[0, 1, 1, 2]])
    one_part = {"tokens[1]": gradients_by_call(tied_lm, matrix, ids, sum_loss)["tokens[1]"]}
    monkeypatch.setattr(
        helpers.checks.training, "gradients_by_call", lambda *args, **kwargs: dict(one_part)
    )
    with pytest.raises(CheckFailed, match="add up to something off by up to"):
        assert_gradient_split(tied_lm, matrix, ids, sum_loss, one_part)
