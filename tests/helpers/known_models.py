"""Model builders shared by the helpers' fixtures (conftest.py) and tests that need to build
a variant themselves. (A module of its own: several conftest.py files exist in this repository,
so `from conftest import ...` would find whichever was imported first.)"""

from __future__ import annotations

import keras
from keras import layers, ops


def tower(name: str) -> keras.Model:
    x = keras.Input((4,))
    h = layers.Dense(5, activation="relu", name=f"{name}_hidden")(x)
    return keras.Model(x, layers.Dense(2, name=f"{name}_out")(h), name=name)


class DenseTransposed(layers.Layer):
    """A decoder tied to an encoder: it uses the encoder's kernel, transposed, and a bias
    of its own. The encoder is stored untracked, so this layer's weights are only its bias."""

    def __init__(self, tied_to: layers.Dense, activation=None, **kwargs):
        super().__init__(**kwargs)
        object.__setattr__(self, "tied_to", tied_to)
        self.activation = keras.activations.get(activation)

    def build(self, input_shape):
        self.bias = self.add_weight(
            shape=(self.tied_to.kernel.shape[0],), initializer="zeros", name="bias"
        )

    def call(self, x):
        return self.activation(ops.matmul(x, ops.transpose(self.tied_to.kernel)) + self.bias)


class DenseTransposedTracked(DenseTransposed):
    """The same tie, but the encoder stored as a normal attribute: Keras then TRACKS the
    encoder's variables as this layer's own weights, though only the kernel is used."""

    def __init__(self, tied_to, **kwargs):
        super().__init__(tied_to, **kwargs)
        self.tied_to = tied_to


def autoencoder(decoder_class) -> keras.Model:
    x = keras.Input((6,), name="x")
    encoder = layers.Dense(3, activation="relu", name="encoder")
    decoder = decoder_class(encoder, name="decoder")
    return keras.Model(x, decoder(encoder(x)), name="autoencoder")


class TiedEmbedding(layers.Embedding):
    """An Embedding that, called with reverse=True, projects vectors back onto the
    vocabulary with its own table transposed: input and output embedding tied."""

    def call(self, inputs, reverse=False):
        if reverse:
            return ops.matmul(inputs, ops.transpose(self.embeddings))
        return super().call(inputs)

    def compute_output_spec(self, inputs, reverse=False):
        if reverse:
            return keras.KerasTensor(
                tuple(inputs.shape[:-1]) + (self.input_dim,), dtype=self.compute_dtype
            )
        return super().compute_output_spec(inputs)
