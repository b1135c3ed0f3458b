"""The kit's reference versions of layers that learners write in an exercise.

A lesson that asks for a layer in an exercise runs its later teaching cells on the
reference version, so a slip in the learner's class cannot silently change what the rest
of the lesson shows.

Example:
    >>> import keras
    >>> from helpers.reference import DenseTransposed
    >>> x = keras.Input((5,))
    >>> encoder = keras.layers.Dense(3, name="encoder")
    >>> decoder = DenseTransposed(encoder, name="decoder")
    >>> model = keras.Model(x, decoder(encoder(x)))
    >>> [w.path for w in decoder.weights], model.count_params()    # its bias only; 15 + 3 + 5
    (['decoder/bias'], 23)
"""

from __future__ import annotations

import keras
from keras import ops

__all__ = ["DenseTransposed"]


class DenseTransposed(keras.layers.Layer):
    """A dense layer computing ``activation(x @ transpose(tied_to.kernel) + bias)``.

    The kernel belongs to ``tied_to`` (a built ``Dense``); this layer owns only its bias.
    The reference is stored untracked (``object.__setattr__``), so ``tied_to``'s variables
    are listed, counted and frozen with ``tied_to`` alone. Lesson 03, Exercise 1.
    """

    def __init__(self, tied_to: keras.layers.Layer, activation=None, **kwargs):
        super().__init__(**kwargs)
        object.__setattr__(self, "tied_to", tied_to)  # a reference, not a tracked sub-layer
        self.activation = keras.activations.get(activation)

    def build(self, input_shape) -> None:
        self.bias = self.add_weight(
            shape=(self.tied_to.kernel.shape[0],), initializer="zeros", name="bias"
        )

    def call(self, inputs):
        return self.activation(ops.matmul(inputs, ops.transpose(self.tied_to.kernel)) + self.bias)
