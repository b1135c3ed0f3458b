"""The Keras facts lesson 03 teaches, checked on this Keras: a test fails when one stops
being true after an upgrade, before the lesson's text is wrong.

The lesson runs on TensorFlow and states what JAX does differently, so every fact is observed
by :func:`observe` and compared with what the lesson says for that backend: in this process
(the default backend, TensorFlow) and in a subprocess under ``KERAS_BACKEND=jax``.

- Section 5: ``trainable = False`` set after a ``fit()`` is ignored by the next ``fit()`` on
  TensorFlow and makes it raise on JAX; ``make_train_function(force=True)`` applies it on
  TensorFlow (keeping the optimizer's step count) and is not enough on JAX; ``compile()``
  applies it on both.
- Section 7: ``copy.deepcopy(model)`` keeps a savable tie; an unregistered class fails to load
  (and to deep-copy) with a ``TypeError`` whose cause follows "Exception encountered: " and
  precedes "Full object config" (the lesson cuts the message there); ``custom_objects`` loads
  it with the tie; ``deepcopy`` of the tied layer alone builds an encoder of its own.
- Section 10: ``ops.matmul(h, ops.transpose(emb.embeddings))`` in a functional graph is a frozen
  copy (no transpose node; the output keeps the values of build time), as are a slice and
  ``2 * variable``; an operation given the variable itself (``ops.einsum``) and a layer reading
  it in ``call`` follow new values.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

VOCAB, DIM, LENGTH = 6, 4, 3

#: What the lesson says, per backend.
LESSON_SAYS = {
    "tensorflow": {
        "after_fit:nothing": "kernel moved",
        "after_fit:force": "kernel still, optimizer steps 8",
        "after_fit:compile": "kernel still, optimizer steps 4",
    },
    "jax": {
        "after_fit:nothing": "ValueError",
        "after_fit:force": "ValueError",
        "after_fit:compile": "kernel still, optimizer steps 4",
    },
}
BOTH = {
    "graph:transpose": {"nodes": ["ids", "tokens", "matmul"], "follows": False, "as_built": True},
    "graph:slice": {"follows": False, "as_built": True},
    "graph:2*variable": {"follows": False, "as_built": True},
    "graph:einsum(variable)": {"follows": True},
    "layer reads in call": {"follows": True},
    "deepcopy(model)": "tie kept",
    "deepcopy(model), not registered": "TypeError: Could not locate class 'Unregistered'",
    "load_model, not registered": "TypeError: Could not locate class 'Unregistered'",
    "load_model, custom_objects": "tie kept",
    "deepcopy(tied layer)": "own encoder named 'encoder'",
}


# ----------------------------------------------------------------------- Section 10


def _frozen_graph_facts() -> dict:
    import keras
    import numpy as np
    from keras import layers, ops

    class TiedScores(layers.Layer):
        def __init__(self, tied_to, **kwargs):
            super().__init__(**kwargs)
            object.__setattr__(self, "tied_to", tied_to)

        def call(self, inputs):
            return ops.matmul(inputs, ops.transpose(self.tied_to.embeddings))

    ways = {
        "graph:transpose": lambda h, e: ops.matmul(h, ops.transpose(e.embeddings)),
        "graph:slice": lambda h, e: ops.matmul(h, ops.transpose(e.embeddings[:, :])),
        "graph:2*variable": lambda h, e: ops.matmul(h, ops.transpose(2 * e.embeddings)) / 2,
        "graph:einsum(variable)": lambda h, e: ops.einsum("btd,vd->btv", h, e.embeddings),
        "layer reads in call": lambda h, e: TiedScores(e, name="scores")(h),
    }
    x = np.arange(2 * LENGTH).reshape(2, LENGTH).astype("int32") % VOCAB
    facts = {}
    for name, scores in ways.items():
        keras.backend.clear_session(free_memory=False)
        ids = keras.Input((LENGTH,), dtype="int32", name="ids")
        tokens = layers.Embedding(VOCAB, DIM, name="tokens")
        model = keras.Model(ids, scores(tokens(ids), tokens))
        built = tokens.embeddings.numpy().copy()
        tokens.embeddings.assign(built[::-1] * 3.0)
        now = tokens.embeddings.numpy()
        out, h = np.asarray(model(x)), np.asarray(tokens(x))
        facts[name] = {
            "follows": bool(np.allclose(out, h @ now.T, atol=1e-5)),
        }
        if not facts[name]["follows"]:
            facts[name]["as_built"] = bool(np.allclose(out, h @ built.T, atol=1e-5))
        if name == "graph:transpose":
            facts[name] = {"nodes": [op.name for op in model.operations], **facts[name]}
    return facts


# ------------------------------------------------------------------------ Section 5


def _after_fit_facts() -> dict:
    import keras
    import numpy as np
    from keras import layers

    from helpers.reference import DenseTransposed

    x = np.random.default_rng(0).random((64, 8)).astype("float32")
    facts = {}
    for way in ("nothing", "force", "compile"):
        keras.backend.clear_session(free_memory=False)
        keras.utils.set_random_seed(0)
        pixels = keras.Input((8,))
        encoder = layers.Dense(3, activation="relu", name="encoder")
        model = keras.Model(pixels, DenseTransposed(encoder, name="decoder")(encoder(pixels)))
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.02), loss="mse")
        model.fit(x, x, epochs=1, batch_size=16, verbose=0)  # 4 steps; 8 if the count goes on
        encoder.trainable = False
        if way == "force":
            model.make_train_function(force=True)
        elif way == "compile":
            model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.02), loss="mse")
        before = encoder.kernel.numpy().copy()
        try:
            model.fit(x, x, epochs=1, batch_size=16, verbose=0)
        except ValueError:
            facts[f"after_fit:{way}"] = "ValueError"
            continue
        if not np.array_equal(encoder.kernel.numpy(), before):
            facts[f"after_fit:{way}"] = "kernel moved"
        else:
            steps = int(model.optimizer.iterations.numpy())
            facts[f"after_fit:{way}"] = f"kernel still, optimizer steps {steps}"
    return facts


# ------------------------------------------------------------------------ Section 7


def _copy_facts() -> dict:
    import keras
    from keras import layers

    from helpers import shares_weights
    from helpers.reference import DenseTransposed

    @keras.saving.register_keras_serializable(package="lesson03_facts")
    class Savable(DenseTransposed):
        def __init__(self, tied_to, activation=None, **kwargs):
            if isinstance(tied_to, dict):
                tied_to = keras.saving.deserialize_keras_object(tied_to)
            super().__init__(tied_to, activation=activation, **kwargs)

        def get_config(self):
            config = super().get_config()
            config["tied_to"] = keras.saving.serialize_keras_object(self.tied_to)
            return config

    class Unregistered(Savable):
        pass

    def autoencoder(decoder_class):
        keras.backend.clear_session(free_memory=False)
        pixels = keras.Input((8,), name="pixels")
        encoder = layers.Dense(3, name="encoder")
        return keras.Model(pixels, decoder_class(encoder, name="decoder")(encoder(pixels)))

    def tie_after(make_copy) -> str:
        try:
            duplicate = make_copy()
        except TypeError as error:
            message = str(error)
            start = message.index("Exception encountered: ") + len("Exception encountered: ")
            cause = message[start : message.index("Full object config")].split(".")[0]
            return f"TypeError: {cause}"
        return "tie kept" if shares_weights(duplicate, "decoder", "encoder") else "tie broken"

    savable, unregistered = autoencoder(Savable), autoencoder(Unregistered)
    lone = copy.deepcopy(savable.get_layer("decoder"))
    own = lone.tied_to is not savable.get_layer("encoder")
    facts = {
        "deepcopy(model)": tie_after(lambda: copy.deepcopy(savable)),
        "deepcopy(model), not registered": tie_after(lambda: copy.deepcopy(unregistered)),
        "deepcopy(tied layer)": f"own encoder named {lone.tied_to.name!r}" if own else "shared",
    }
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "unregistered.keras")
        unregistered.save(path)
        facts["load_model, not registered"] = tie_after(lambda: keras.saving.load_model(path))
        facts["load_model, custom_objects"] = tie_after(
            lambda: keras.saving.load_model(path, custom_objects={"Unregistered": Unregistered})
        )
    return facts


def observe() -> dict:
    """Every fact above, as observed on the current backend."""
    return {**_frozen_graph_facts(), **_after_fit_facts(), **_copy_facts()}


def expected(backend: str) -> dict:
    return {**BOTH, **LESSON_SAYS[backend]}


# ------------------------------------------------------------------------------ tests


def test_lesson03_facts_on_this_backend():
    import keras

    backend = keras.backend.backend()
    if backend not in LESSON_SAYS:
        pytest.skip(f"lesson 03 states no facts for {backend}")
    assert observe() == expected(backend)


def test_lesson03_facts_on_jax():
    """The JAX claims, in a process of their own (the backend is chosen at import)."""
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "KERAS_BACKEND": "jax", "PYTHONPATH": str(root)}
    run = subprocess.run(
        [sys.executable, __file__], capture_output=True, text=True, env=env, cwd=root
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert json.loads(run.stdout.strip().splitlines()[-1]) == expected("jax")


if __name__ == "__main__":
    print(json.dumps(observe()))
