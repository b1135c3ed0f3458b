"""The Keras behaviour lesson 02 (separate weights) teaches about saving a partial clone,
checked on the pinned Keras: when an upgrade changes it, this fails and names the claim.

Section 4 builds `new_head` with `clone_model(encoder, clone_function=share_hidden)`: one
`hidden` layer in both models. The lesson says the sharing does not survive saving the pair
(one file: does not load; two files: a `hidden` each) and that saving the weights and running
the same code again keeps it.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import keras
import numpy as np
import pytest
from keras import layers, ops

PIXELS = np.random.default_rng(0).random((8, 64), dtype=np.float32)


def _encoder() -> keras.Sequential:
    return keras.Sequential(
        [keras.Input((64,)), layers.Dense(16, name="hidden"), layers.Dense(8, name="code")],
        name="encoder",
    )


def _share_hidden(layer: keras.layers.Layer) -> keras.layers.Layer:
    if layer.name == "hidden":
        return layer
    return layer.__class__.from_config(layer.get_config())


def _pair() -> tuple[keras.Model, keras.Model]:
    encoder = _encoder()
    new_head = keras.models.clone_model(encoder, clone_function=_share_hidden)
    new_head.name = "new_head"
    return encoder, new_head


def _hidden(model: keras.Model) -> keras.Variable:
    return model.get_layer("hidden").kernel


def test_the_partial_clone_shares_hidden_only():
    encoder, new_head = _pair()
    assert _hidden(encoder) is _hidden(new_head)
    assert new_head.get_layer("code").kernel is not encoder.get_layer("code").kernel


def test_the_pair_in_one_model_saves_but_does_not_load(tmp_path: Path):
    encoder, new_head = _pair()
    image = keras.Input((64,))
    both = keras.Model(image, [encoder(image), new_head(image)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        both.save(tmp_path / "both.keras")
        with pytest.raises(ValueError, match="Layer 'hidden' expected 2 variables, but received 0"):
            keras.saving.load_model(tmp_path / "both.keras")


def test_the_pair_saved_apart_loads_with_a_hidden_each(tmp_path: Path):
    encoder, new_head = _pair()
    encoder.save(tmp_path / "encoder.keras")
    new_head.save(tmp_path / "new_head.keras")
    loaded = [keras.saving.load_model(tmp_path / f"{n}.keras") for n in ("encoder", "new_head")]
    assert _hidden(loaded[0]) is not _hidden(loaded[1])


def test_weights_loaded_into_the_pair_rebuilt_by_the_same_code_keep_hidden_shared(tmp_path: Path):
    encoder, new_head = _pair()
    encoder.save_weights(tmp_path / "encoder.weights.h5")
    new_head.save_weights(tmp_path / "new_head.weights.h5")
    rebuilt_encoder, rebuilt_head = _pair()
    rebuilt_encoder.load_weights(tmp_path / "encoder.weights.h5")
    rebuilt_head.load_weights(tmp_path / "new_head.weights.h5")
    assert _hidden(rebuilt_encoder) is _hidden(rebuilt_head)
    for rebuilt, original in ((rebuilt_encoder, encoder), (rebuilt_head, new_head)):
        assert np.allclose(
            ops.convert_to_numpy(rebuilt(PIXELS)), ops.convert_to_numpy(original(PIXELS)), atol=1e-6
        )
