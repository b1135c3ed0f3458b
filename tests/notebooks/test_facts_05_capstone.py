"""Facts lesson 05 (capstone) states, checked under the installed Keras and helpers: a test
fails when an upgrade makes a sentence of the lesson untrue.

The tied layer written as lesson 05 asks cannot be saved; registered, with the Embedding in
its config, the whole form reader saves and loads with its tie and its shared encoder. The
"most common answer" baselines quoted in the specification come from these forms.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers, ops

import helpers


@pytest.fixture(autouse=True)
def _fresh_session():
    keras.backend.clear_session(free_memory=False)
    keras.utils.set_random_seed(0)


class Tied(layers.Layer):
    def __init__(self, embedding, **kwargs):
        super().__init__(**kwargs)
        object.__setattr__(self, "embedding", embedding)

    def build(self, input_shape):
        self.bias = self.add_weight(shape=(self.embedding.input_dim,), initializer="zeros")

    def call(self, code):
        return ops.softmax(ops.matmul(code, ops.transpose(self.embedding.embeddings)) + self.bias)


@keras.saving.register_keras_serializable(package="kit_facts_05")
class SavableTied(Tied):
    def __init__(self, embedding, **kwargs):
        if isinstance(embedding, dict):
            embedding = keras.saving.deserialize_keras_object(embedding)
        super().__init__(embedding, **kwargs)

    def get_config(self):
        embedding = keras.saving.serialize_keras_object(self.embedding)
        return {**super().get_config(), "embedding": embedding}


def form_reader(tied_class) -> keras.Model:
    image_a, image_b = keras.Input((64,), name="image_a"), keras.Input((64,), name="image_b")
    typed = keras.Input((2,), dtype="int32", name="typed")
    encoder = keras.Sequential(
        [keras.Input((64,)), layers.Dense(16, activation="relu")], name="image_encoder"
    )
    code_a, code_b = encoder(image_a), encoder(image_b)
    embedding = layers.Embedding(10, 16, name="typed_embedding")
    typed_code = layers.Flatten()(embedding(typed))
    joint = layers.Concatenate()([code_a, code_b, typed_code])
    same = layers.Dense(1, activation="sigmoid", name="same")(joint)
    digit = tied_class(embedding, name="digit")(code_a)
    return keras.Model([image_a, image_b, typed], [same, digit])


def test_the_tied_layer_as_written_cannot_be_saved(tmp_path):
    with pytest.raises(NotImplementedError, match="must override `get_config\\(\\)`"):
        form_reader(Tied).save(tmp_path / "m.keras")


def test_registered_with_its_config_it_loads_with_tie_and_sharing(tmp_path):
    model = form_reader(SavableTied)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    helpers.assert_tied(loaded, "digit", "typed_embedding", variable="embeddings")
    helpers.assert_calls(loaded, "image_encoder", 2)
    assert helpers.count_params(loaded) == helpers.count_params(model)
    x, _ = helpers.digit_pairs("test", 8)
    for before, after in zip(
        model.predict(x, verbose=0), loaded.predict(x, verbose=0), strict=True
    ):
        assert np.allclose(before, after, atol=1e-6)


def test_unregistered_the_loader_cannot_find_the_class(tmp_path):
    class Unregistered(SavableTied):
        pass

    form_reader(Unregistered).save(tmp_path / "m.keras")
    with pytest.raises(TypeError, match="Could not locate class 'Unregistered'"):
        keras.models.load_model(tmp_path / "m.keras")


def test_the_most_common_answer_baselines_of_the_specification():
    def rates(y):
        return [round(100 * helpers.majority_rate(y[name])) for name in ("same", "larger", "digit")]

    assert rates(helpers.digit_pairs("test")[1]) == [51, 74, 12]
    assert rates(helpers.digit_pairs("test", 1000, seed=2)[1]) == [52, 77, 12]
