"""The Keras behaviour lesson 06 (sharing in practice) teaches, checked on the pinned Keras.

Each test is one claim the lesson states and shows; when a Keras upgrade changes the
behaviour, the test fails and names the section to rewrite (the lesson's own outputs would
change too, but nbval only says *that* an output differs, not which claim broke).
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest
from keras import layers, ops

X = np.random.default_rng(0).random((128, 64), dtype=np.float32)
Y = np.arange(128) % 10


def _pair() -> tuple[keras.Model, keras.Model]:
    """digit_model and odd_model calling ONE base, as in the lesson."""
    base = keras.Sequential([keras.Input((64,)), layers.Dense(8, name="hidden")], name="base")
    image = keras.Input((64,))
    digit = keras.Model(image, layers.Dense(10, name="digit")(base(image)), name="digit_model")
    image = keras.Input((64,))
    odd = keras.Model(image, layers.Dense(1, name="odd")(base(image)), name="odd_model")
    return digit, odd


def _kernel(model: keras.Model) -> keras.Variable:
    return model.get_layer("base").get_layer("hidden").kernel


def _same(a: keras.Variable, b: keras.Variable) -> bool:
    return a is b


# --------------------------------------------------------------- 1. freezing a model


def test_freezing_one_model_freezes_the_shared_base_in_the_other():
    digit, odd = _pair()
    odd.trainable = False
    assert [w.path for w in digit.trainable_weights] == ["digit/kernel", "digit/bias"]


def test_unfreezing_a_model_unfreezes_a_base_frozen_on_purpose():
    digit, odd = _pair()
    digit.get_layer("base").trainable = False
    odd.trainable = False
    odd.trainable = True
    assert digit.get_layer("base").trainable
    assert len(digit.trainable_weights) == 4


def test_setting_trainable_to_its_value_does_nothing_on_tensorflow_only():
    """Keras's TensorFlow layers skip a setattr that changes nothing (the same object), so
    the setter that reaches the sub-layers never runs; on JAX it does."""
    digit, odd = _pair()
    digit.get_layer("base").trainable = False
    odd.trainable = True  # odd was never frozen
    expected = keras.backend.backend() != "tensorflow"
    assert digit.get_layer("base").trainable is expected


# ------------------------------------------------------------- 2. BatchNormalization


def _norm_model() -> tuple[keras.Sequential, keras.Model]:
    base = keras.Sequential(
        [keras.Input((64,)), layers.Dense(8), layers.BatchNormalization(name="norm")], name="base"
    )
    image = keras.Input((64,))
    head = layers.Dense(10, activation="softmax")
    return base, keras.Model(image, head(base(image, training=False)))


def _fit_keeps_moving_mean(model: keras.Model, norm: keras.layers.Layer) -> bool:
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    before = ops.convert_to_numpy(norm.moving_mean).copy()
    model.fit(X, Y, epochs=1, batch_size=32, verbose=0)
    return np.array_equal(before, ops.convert_to_numpy(norm.moving_mean))


def test_frozen_batchnorm_runs_in_inference_mode():
    base, model = _norm_model()
    base.trainable = False
    assert _fit_keeps_moving_mean(model, base.get_layer("norm"))
    assert np.allclose(
        ops.convert_to_numpy(base(X[:32], training=True)),
        ops.convert_to_numpy(base(X[:32], training=False)),
    )


def test_training_false_in_the_graph_does_not_survive_fit():
    """keras-team/keras#20285: fit's training=True overrides a call's training=False."""
    base, model = _norm_model()
    assert not _fit_keeps_moving_mean(model, base.get_layer("norm"))


def test_freezing_only_the_batchnorm_keeps_its_statistics_while_the_rest_trains():
    base, model = _norm_model()
    base.get_layer("norm").trainable = False
    assert _fit_keeps_moving_mean(model, base.get_layer("norm"))
    assert len(model.trainable_weights) == 4  # the base's Dense and the head


# ------------------------------------------------------------- 3. subclassed models


class _Siamese(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.encoder = layers.Dense(4, name="encoder")

    def call(self, inputs):
        left, right = inputs
        return self.encoder(left) - self.encoder(right)


def test_subclassed_model_loads_only_when_keras_knows_the_class(tmp_path: Path):
    model = _Siamese(name="siamese")
    model([X[:2], X[:2]])
    path = tmp_path / "siamese.keras"
    model.save(path)
    with pytest.raises(TypeError, match="Could not locate class '_Siamese'"):
        keras.saving.load_model(path)
    restored = keras.saving.load_model(path, custom_objects={"_Siamese": _Siamese})
    assert [w.path for w in restored.weights] == ["encoder/kernel", "encoder/bias"]
    assert np.allclose(
        ops.convert_to_numpy(restored([X[:2], X[2:4]])),
        ops.convert_to_numpy(model([X[:2], X[2:4]])),
        atol=1e-6,
    )


# ------------------------------------------------------------------ 4. deepcopy


class _Sketch(layers.Layer):
    def __init__(self, encoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder


@keras.saving.register_keras_serializable(package="facts06")
class _Tied(layers.Layer):
    def __init__(self, encoder, **kwargs):
        super().__init__(**kwargs)
        if isinstance(encoder, dict):
            encoder = keras.saving.deserialize_keras_object(encoder)
        object.__setattr__(self, "encoder", encoder)

    def build(self, input_shape):
        self.bias = self.add_weight(shape=(self.encoder.kernel.shape[0],), name="bias")

    def call(self, codes):
        return ops.matmul(codes, ops.transpose(self.encoder.kernel)) + self.bias

    def get_config(self):
        return {
            **super().get_config(),
            "encoder": keras.saving.serialize_keras_object(self.encoder),
        }


def test_deepcopy_of_a_layer_holding_a_layer_needs_get_config():
    with pytest.raises(NotImplementedError, match="non-serializable argument values"):
        copy.deepcopy(_Sketch(layers.Dense(2)))


def test_deepcopy_keeps_a_tie_only_when_the_model_is_copied():
    encode = layers.Dense(8, name="encode")
    decode = _Tied(encode, name="decode")
    pixels = keras.Input((64,))
    model = keras.Model(pixels, decode(encode(pixels)))
    assert not _same(copy.deepcopy(decode).encoder.kernel, encode.kernel)
    twin = copy.deepcopy(model)
    assert _same(twin.get_layer("decode").encoder.kernel, twin.get_layer("encode").kernel)
    assert not _same(twin.get_layer("encode").kernel, encode.kernel)


# ------------------------------------------------------- 6. sharing across saved models


def test_models_saved_apart_load_with_a_base_each(tmp_path: Path):
    digit, odd = _pair()
    digit.save(tmp_path / "digit.keras")
    odd.save(tmp_path / "odd.keras")
    loaded_digit = keras.saving.load_model(tmp_path / "digit.keras")
    loaded_odd = keras.saving.load_model(tmp_path / "odd.keras")
    assert not _same(_kernel(loaded_digit), _kernel(loaded_odd))


def _wrapper_of_two_models() -> keras.Model:
    digit, odd = _pair()
    image = keras.Input((64,))
    return keras.Model(image, [digit(image), odd(image)])


def _two_towers() -> keras.Model:
    shared = layers.Dense(8, name="shared")
    x = keras.Input((16,))
    left = keras.Model(x, shared(x), name="left_tower")
    x = keras.Input((16,))
    right = keras.Model(x, layers.Dense(4, name="extra")(shared(x)), name="right_tower")
    a, b = keras.Input((16,)), keras.Input((16,))
    return keras.Model([a, b], layers.Concatenate()([left(a), right(b)]))


@pytest.mark.parametrize("build", [_wrapper_of_two_models, _two_towers])
def test_a_layer_shared_by_two_sub_models_saves_but_does_not_load(tmp_path: Path, build):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        build().save(tmp_path / "model.keras")
        with pytest.raises(ValueError, match="expected 2 variables, but received 0 variables"):
            keras.saving.load_model(tmp_path / "model.keras")


def test_one_multi_output_model_keeps_the_base_shared(tmp_path: Path):
    digit, odd = _pair()
    image = keras.Input((64,))
    features = digit.get_layer("base")(image)
    both = keras.Model(image, [digit.get_layer("digit")(features), odd.get_layer("odd")(features)])
    both.save(tmp_path / "both.keras")
    loaded = keras.saving.load_model(tmp_path / "both.keras")
    image = keras.Input((64,))
    loaded_odd = keras.Model(image, loaded.get_layer("odd")(loaded.get_layer("base")(image)))
    assert _same(loaded_odd.get_layer("base").get_layer("hidden").kernel, _kernel(loaded))
    assert np.allclose(
        ops.convert_to_numpy(loaded_odd(X[:4])), ops.convert_to_numpy(odd(X[:4])), atol=1e-6
    )


def test_weights_loaded_into_models_rebuilt_in_code_keep_the_base_shared(tmp_path: Path):
    digit, odd = _pair()
    digit.save_weights(tmp_path / "digit.weights.h5")
    odd.save_weights(tmp_path / "odd.weights.h5")
    new_digit, new_odd = _pair()
    new_digit.load_weights(tmp_path / "digit.weights.h5")
    new_odd.load_weights(tmp_path / "odd.weights.h5")
    assert _same(_kernel(new_digit), _kernel(new_odd))
    assert np.allclose(
        ops.convert_to_numpy(new_odd(X[:4])), ops.convert_to_numpy(odd(X[:4])), atol=1e-6
    )
