"""A corpus of third-party and learner-style architectures, built without downloads, each
with the truth about it worked out INDEPENDENTLY of the helpers: call counts from the
functional config's ``inbound_nodes`` (or by hand for subclassed models), parameter counts
from the distinct ids in ``model.weights``, shared variables from the layers called more
than once plus the ties the builder makes on purpose.

Run it as a script to print, per model, the helpers' answers and the time of one
``sharing_report`` (first and cached)::

    .venv/bin/python tests/helpers/architectures.py
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import keras
from keras import layers, ops


@dataclass
class Truth:
    """What a model is, worked out without the helpers."""

    calls: dict[str, int]  # {layer name: calls the model makes}
    shared: set[str]  # paths of the variables used by more than one call
    params: int  # parameters, each distinct variable once


def distinct_params(model: keras.Model) -> int:
    unique = {id(v): v for v in model.weights}.values()
    total = 0
    for v in unique:
        size = 1
        for d in v.shape:
            size *= int(d)
        total += size
    return total


def config_calls(model: keras.Model) -> dict[str, int]:
    """Calls per layer from the functional config: one ``inbound_nodes`` entry per call.
    Operations (``a - b``) are in the config too, but are not layers of the model."""
    names = {layer.name for layer in model.layers}
    return {
        c["name"]: len(c["inbound_nodes"])
        for c in model.get_config()["layers"]
        if c["class_name"] != "InputLayer" and c["name"] in names
    }


def functional_truth(model: keras.Model, ties: set[str] = frozenset()) -> Truth:
    calls = config_calls(model)
    shared = {w.path for name, n in calls.items() if n > 1 for w in model.get_layer(name).weights}
    return Truth(calls, shared | set(ties), distinct_params(model))


# ------------------------------------------------------------------ the architectures


def mobilenet_v2() -> keras.Model:
    return keras.applications.MobileNetV2(
        weights=None, input_shape=(32, 32, 3), alpha=0.35, classes=10
    )


def resnet50() -> keras.Model:
    return keras.applications.ResNet50(weights=None, input_shape=(32, 32, 3), classes=10)


def densenet121() -> keras.Model:
    return keras.applications.DenseNet121(weights=None, input_shape=(32, 32, 3), classes=10)


def tiny_lm(tie: bool = True) -> keras.Model:
    """A one-block language model whose output projection is the input embedding
    transposed (``ReversibleEmbedding(tie_weights=True)`` called with ``reverse=True``)."""
    tokens = keras.Input((None,), dtype="int32", name="tokens")
    embed = layers.ReversibleEmbedding(50, 8, tie_weights=tie, name="embed")
    h = embed(tokens)
    attended = layers.MultiHeadAttention(2, 4, name="attention")(h, h, use_causal_mask=True)
    h = layers.LayerNormalization(name="norm")(layers.Add(name="residual")([h, attended]))
    h = layers.Dense(8, activation="gelu", name="ffn")(h)
    return keras.Model(tokens, embed(h, reverse=True), name="tied_lm" if tie else "untied_lm")


def graph_with_ops() -> keras.Model:
    """Operations in a functional graph: ``enc(a) - enc(b)``, ``keras.ops.concatenate`` and
    the ``NotEqual`` node of ``Embedding(mask_zero=True)``."""
    a, b = keras.Input((6,), name="a"), keras.Input((6,), name="b")
    words = keras.Input((None,), dtype="int32", name="words")
    enc = layers.Dense(4, name="enc")
    difference = enc(a) - enc(b)
    text = layers.GlobalAveragePooling1D(name="pool")(
        layers.Embedding(20, 4, mask_zero=True, name="embed")(words)
    )
    joined = ops.concatenate([ops.abs(difference), text], axis=-1)
    return keras.Model([a, b, words], layers.Dense(1, name="head")(joined), name="graph_with_ops")


class Siamese(keras.Model):
    """A subclassed siamese model: one encoder called on both inputs in ``call``."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.enc = layers.Dense(4, activation="relu", name="enc")
        self.head = layers.Dense(1, name="head")

    def call(self, inputs):
        a, b = inputs
        return self.head(ops.abs(self.enc(a) - self.enc(b)))


def subclassed_siamese() -> keras.Model:
    model = Siamese(name="subclassed_siamese")
    model([ops.zeros((3, 6)), ops.zeros((3, 6))])
    return model


class Twice(layers.Layer):
    """A custom layer that applies ONE inner Dense twice in depth."""

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.inner = layers.Dense(units, activation="tanh", name="inner")

    def call(self, x):
        return self.inner(self.inner(x))


def wrapper_in_sequential() -> keras.Model:
    return keras.Sequential(
        [keras.Input((4,)), Twice(4, name="twice"), layers.Dense(1, name="out")],
        name="wrapper_in_sequential",
    )


class TiedAutoencoder(keras.Model):
    """A subclassed tied autoencoder: ``call`` itself decodes with the encoder's kernel."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.encoder = layers.Dense(3, activation="relu", name="encoder")

    def build(self, input_shape):
        self.encoder.build(input_shape)
        self.out_bias = self.add_weight(
            shape=(input_shape[-1],), initializer="zeros", name="out_bias"
        )

    def call(self, x):
        return ops.matmul(self.encoder(x), ops.transpose(self.encoder.kernel)) + self.out_bias


def subclassed_tied_autoencoder() -> keras.Model:
    model = TiedAutoencoder(name="tied_autoencoder")
    model(ops.zeros((2, 6)))
    return model


def recurrent_zoo() -> keras.Model:
    """One LSTM cell in two RNN layers, a Bidirectional GRU and a TimeDistributed Dense."""
    x = keras.Input((5, 4), name="sequence")
    cell = layers.LSTMCell(4, name="cell")
    h = layers.RNN(cell, return_sequences=True, name="rnn_1")(x)
    h = layers.RNN(cell, return_sequences=True, name="rnn_2")(h)
    h = layers.TimeDistributed(layers.Dense(3), name="per_step")(h)
    return keras.Model(x, layers.Bidirectional(layers.GRU(2), name="bi")(h), name="recurrent_zoo")


def _truth_subclassed_siamese(model):
    return Truth(
        {"enc": 2, "head": 1},
        {"subclassed_siamese/enc/kernel", "subclassed_siamese/enc/bias"},
        distinct_params(model),
    )


def _truth_wrapper(model):
    return Truth(
        {"twice": 1, "out": 1},
        {w.path for w in model.get_layer("twice").inner.weights},
        distinct_params(model),
    )


def _truth_tied_autoencoder(model):
    return Truth({"encoder": 1}, {model.encoder.kernel.path}, distinct_params(model))


def _truth_recurrent(model):
    return functional_truth(model, ties={w.path for w in model.get_layer("rnn_1").cell.weights})


#: name -> (builder, independent truth of the built model)
CORPUS: dict[str, tuple[Callable[[], keras.Model], Callable[[keras.Model], Truth]]] = {
    "mobilenet_v2": (mobilenet_v2, functional_truth),
    "resnet50": (resnet50, functional_truth),
    "densenet121": (densenet121, functional_truth),
    "tied_lm": (tiny_lm, lambda m: functional_truth(m)),
    "untied_lm": (
        lambda: tiny_lm(tie=False),
        lambda m: Truth(config_calls(m), set(), distinct_params(m)),
    ),
    "graph_with_ops": (graph_with_ops, functional_truth),
    "subclassed_siamese": (subclassed_siamese, _truth_subclassed_siamese),
    "wrapper_in_sequential": (wrapper_in_sequential, _truth_wrapper),
    "subclassed_tied_autoencoder": (subclassed_tied_autoencoder, _truth_tied_autoencoder),
    "recurrent_zoo": (recurrent_zoo, _truth_recurrent),
}


if __name__ == "__main__":  # the report: helpers' answers and time per sharing_report
    import time

    import helpers

    print(f"backend: {keras.backend.backend()}")
    for name, (build, _) in CORPUS.items():
        keras.backend.clear_session()
        model = build()
        start = time.perf_counter()
        report = helpers.sharing_report(model)
        first = time.perf_counter() - start
        start = time.perf_counter()
        helpers.sharing_report(model)
        again = time.perf_counter() - start
        shared = [u.path for u in helpers.variable_uses(model) if u.is_shared]
        repeated = {k: v for k, v in helpers.call_counts(model).items() if v > 1}
        print(
            f"{name}: {len(model.layers)} layers, {helpers.count_params(model):,} params, "
            f"{len(helpers.call_counts(model))} layers called, called more than once: {repeated}; "
            f"shared: {shared}; sharing_report {first:.2f} s first, {again * 1000:.1f} ms cached"
        )
