"""Tiny models whose sharing we know for certain, built fresh for each test."""

from __future__ import annotations

import copy

import keras
import pytest
from keras import layers
from known_models import DenseTransposed, DenseTransposedTracked, TiedEmbedding, autoencoder, tower


@pytest.fixture(autouse=True)
def _fresh_session():
    # Fresh layer names for every test. free_memory=False skips a gc.collect() that costs
    # about 0.4 s per test once TensorFlow is loaded; the models here are tiny.
    keras.backend.clear_session(free_memory=False)
    keras.utils.set_random_seed(0)
    yield


@pytest.fixture
def siamese() -> keras.Model:
    """One Dense encoder called on two inputs: one kernel, one bias, two calls."""
    left, right = keras.Input((4,), name="left"), keras.Input((4,), name="right")
    encoder = layers.Dense(3, name="encoder")
    distance = layers.Subtract(name="difference")([encoder(left), encoder(right)])
    return keras.Model([left, right], layers.Dense(1, name="score")(distance), name="siamese")


@pytest.fixture
def two_towers() -> keras.Model:
    """The same architecture built twice: two independent Dense layers."""
    left, right = keras.Input((4,), name="left"), keras.Input((4,), name="right")
    a, b = layers.Dense(3, name="tower_a"), layers.Dense(3, name="tower_b")
    return keras.Model(
        [left, right], layers.Concatenate(name="join")([a(left), b(right)]), name="two_towers"
    )


@pytest.fixture
def submodel_twice() -> keras.Model:
    """One sub-model used as a layer on two inputs: all its weights shared."""
    shared = tower("shared_tower")
    a, b = keras.Input((4,), name="a"), keras.Input((4,), name="b")
    return keras.Model(
        [a, b], layers.Concatenate(name="join")([shared(a), shared(b)]), name="submodel_twice"
    )


@pytest.fixture
def cloned_towers() -> keras.Model:
    """A sub-model and its clone (keras.models.clone_model): same design, new weights."""
    first = tower("first")
    second = keras.models.clone_model(first)
    second.name = "second"
    a, b = keras.Input((4,), name="a"), keras.Input((4,), name="b")
    return keras.Model(
        [a, b], layers.Concatenate(name="join")([first(a), second(b)]), name="cloned"
    )


@pytest.fixture
def from_config_pair() -> keras.Model:
    """A layer and a copy made with from_config(get_config()): new, independent weights."""
    original = layers.Dense(3, name="original")
    cfg = original.get_config()
    cfg["name"] = "copy"
    copy = layers.Dense.from_config(cfg)
    a, b = keras.Input((4,), name="a"), keras.Input((4,), name="b")
    return keras.Model(
        [a, b], layers.Concatenate(name="join")([original(a), copy(b)]), name="from_config"
    )


@pytest.fixture
def tied_autoencoder() -> keras.Model:
    return autoencoder(DenseTransposed)


@pytest.fixture
def tracked_tied_autoencoder() -> keras.Model:
    return autoencoder(DenseTransposedTracked)


@pytest.fixture
def untied_autoencoder() -> keras.Model:
    """Right shapes, no tie: the decoder is a Dense with a kernel of its own."""
    x = keras.Input((6,), name="x")
    h = layers.Dense(3, activation="relu", name="encoder")(x)
    return keras.Model(x, layers.Dense(6, name="decoder")(h), name="autoencoder")


class TwoBranchWrapper(layers.Layer):
    """A custom layer that wraps ONE inner Dense and applies it to two inputs."""

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.inner = layers.Dense(units, name="inner")

    def call(self, inputs):
        a, b = inputs
        return self.inner(a) + self.inner(b)


@pytest.fixture
def wrapper_model() -> keras.Model:
    a, b = keras.Input((4,), name="a"), keras.Input((4,), name="b")
    return keras.Model([a, b], TwoBranchWrapper(3, name="wrap")([a, b]), name="wrapped")


@pytest.fixture
def zoo() -> keras.Model:
    """One of each layer kind with a formula, to compare formulas with Keras."""
    image = keras.Input((8, 8, 1), name="image")
    h = layers.Conv2D(4, 3, name="conv")(image)
    h = layers.BatchNormalization(name="bn")(h)
    h = layers.GlobalAveragePooling2D(name="pool")(h)
    tokens = keras.Input((5,), dtype="int32", name="tokens")
    e = layers.Embedding(20, 6, name="embed")(tokens)
    s = layers.LSTM(7, return_sequences=True, name="lstm")(e)
    s = layers.GRU(3, name="gru")(s)
    s2 = layers.SimpleRNN(2, name="rnn")(e)
    c = layers.Conv1D(2, 3, use_bias=False, name="conv1d")(e)
    c = layers.GlobalMaxPooling1D(name="maxpool")(c)
    joined = layers.Concatenate(name="join")([h, s, s2, c])
    return keras.Model([image, tokens], layers.Dense(2, name="head")(joined), name="zoo")


# --- More ways to reuse (or seem to reuse) a layer ----------------------------------------


@pytest.fixture
def sequential_twice() -> keras.Model:
    """A Sequential block used as a layer on two inputs: all its weights shared."""
    block = keras.Sequential(
        [keras.Input((4,)), layers.Dense(3, name="s1"), layers.Dense(2, name="s2")], name="block"
    )
    a, b = keras.Input((4,), name="a"), keras.Input((4,), name="b")
    return keras.Model(
        [a, b], layers.Concatenate(name="join")([block(a), block(b)]), name="sequential_twice"
    )


@pytest.fixture
def deepcopy_pair() -> keras.Model:
    """A built Dense and its copy.deepcopy: new variables with the same values AND the
    same variable paths (the copy is renamed only so the model accepts both)."""
    original = layers.Dense(3, name="original")
    original.build((None, 4))
    twin = copy.deepcopy(original)
    twin.name = "copy"
    a, b = keras.Input((4,), name="a"), keras.Input((4,), name="b")
    return keras.Model(
        [a, b], layers.Concatenate(name="join")([original(a), twin(b)]), name="deepcopy"
    )


@pytest.fixture
def set_weights_pair() -> keras.Model:
    """Two Dense layers; the second got the first's values with set_weights (a copy)."""
    first, second = layers.Dense(3, name="first"), layers.Dense(3, name="second")
    a, b = keras.Input((4,), name="a"), keras.Input((4,), name="b")
    model = keras.Model(
        [a, b], layers.Concatenate(name="join")([first(a), second(b)]), name="set_weights"
    )
    second.set_weights(first.get_weights())
    return model


@pytest.fixture
def frozen_shared() -> keras.Model:
    """A shared encoder with trainable=False: both calls use one frozen kernel."""
    left, right = keras.Input((4,), name="left"), keras.Input((4,), name="right")
    encoder = layers.Dense(3, name="encoder")
    encoder.trainable = False
    joined = layers.Add(name="add")([encoder(left), encoder(right)])
    return keras.Model([left, right], layers.Dense(1, name="head")(joined), name="frozen")


@pytest.fixture
def identity_clone() -> keras.Model:
    """clone_model(m, clone_function=lambda l: l) reuses every layer: an alias that shares."""
    first = tower("first")
    alias = keras.models.clone_model(first, clone_function=lambda layer: layer)
    alias.name = "alias"
    a, b = keras.Input((4,), name="a"), keras.Input((4,), name="b")
    return keras.Model(
        [a, b], layers.Concatenate(name="join")([first(a), alias(b)]), name="aliased"
    )


@pytest.fixture
def layer_in_two_models() -> tuple[keras.Model, keras.Model]:
    """One Dense used once in a first model and twice in a second one."""
    dense = layers.Dense(4, name="dense")
    x = keras.Input((4,), name="x")
    once = keras.Model(x, dense(x), name="once")
    y = keras.Input((4,), name="y")
    twice = keras.Model(y, dense(layers.Dense(4, name="middle")(dense(y))), name="twice")
    return once, twice


@pytest.fixture
def tied_lm() -> keras.Model:
    """A tiny language model whose output layer is its input embedding, reversed."""
    tokens = keras.Input((5,), dtype="int32", name="tokens")
    embed = TiedEmbedding(11, 4, name="embed")
    h = layers.Dense(4, activation="tanh", name="mix")(embed(tokens))
    return keras.Model(tokens, embed(h, reverse=True), name="tied_lm")


class HoldsASpare(layers.Layer):
    """A wrapper that builds two inner Dense layers but only ever calls one: Keras tracks
    and counts the spare's variables, yet no call reads them."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.used = layers.Dense(2, name="used")
        self.spare = layers.Dense(2, name="spare")

    def build(self, input_shape):
        self.used.build(input_shape)
        self.spare.build(input_shape)

    def call(self, x):
        return self.used(x)


@pytest.fixture
def unused_weights() -> keras.Model:
    x = keras.Input((3,), name="x")
    h = layers.Dense(3, name="first")(x)
    return keras.Model(x, HoldsASpare(name="wrap")(h), name="unused_weights")
