"""Subclassed models called every way Keras supports (issue 25, point 5): one tensor, a
dict, a nested list, two positional tensors ``call(self, a, b)``, a keyword tensor, flags.
The truth is written by hand from each ``call`` (which layer is called how often), with
Keras's own ``count_params``. Where the helpers cannot read a model, a check fails with a
message naming what is missing, never with a traceback of helper code."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

import helpers
from helpers.analysis import InspectionError
from helpers.recording import recorded_call


class Base(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.enc = layers.Dense(3, name="enc")
        self.head = layers.Dense(1, name="head")


class DictInput(Base):
    def call(self, inputs):
        return self.head(self.enc(inputs["left"]) + self.enc(inputs["right"]))


class TwoArguments(Base):
    def call(self, a, b):
        return self.head(self.enc(a) - self.enc(b))


class NestedList(Base):
    def call(self, inputs):
        x, (y, z) = inputs
        return self.head(self.enc(x) + self.enc(y) + z)


class KeywordTensor(Base):
    def call(self, x, context=None, training=None):
        h = self.enc(x)
        if context is not None:
            h = h + self.enc(context)
        return self.head(h)


class Flags(Base):
    def call(self, x, training=None, mask=None):
        return self.head(self.enc(x))


def _x(*shape):
    return np.random.default_rng(0).normal(size=shape).astype("float32")


CASES = {
    "dict": (DictInput, lambda m: m({"left": _x(2, 4), "right": _x(2, 4)}), 2),
    "two_arguments": (TwoArguments, lambda m: m(_x(2, 4), _x(2, 4)), 2),
    "nested_list": (NestedList, lambda m: m([_x(2, 4), (_x(2, 4), _x(2, 3))]), 2),
    "keyword_tensor": (KeywordTensor, lambda m: m(_x(2, 4), context=_x(2, 4), training=False), 2),
    "flags": (Flags, lambda m: m(_x(2, 4), training=False), 1),
}


@pytest.mark.parametrize("name", list(CASES))
def test_every_call_signature_is_read(name):
    klass, call, enc_calls = CASES[name]
    model = klass(name=name)
    call(model)
    assert helpers.call_counts(model) == {"enc": enc_calls, "head": 1}
    assert helpers.count_params(model) == model.count_params() == 15 + 4
    shared = {u.path for u in helpers.variable_uses(model) if u.is_shared}
    assert shared == ({f"{name}/enc/kernel", f"{name}/enc/bias"} if enc_calls > 1 else set())
    assert sum(helpers.sharing_report(model).column("params")) == model.count_params()
    helpers.sharing_diagram(model)
    if enc_calls > 1:
        helpers.assert_shared(model, "enc", "enc")


def test_a_dict_model_built_before_the_helpers_recorded_it_is_read():
    """Keras's own record (the first argument's shapes) is enough for one dict argument."""
    model = DictInput(name="dict_only_keras")
    model({"left": _x(2, 4), "right": _x(2, 4)})
    object.__delattr__(model, "_helpers_first_call")
    assert recorded_call(model) is None
    assert helpers.call_counts(model) == {"enc": 2, "head": 1}


def test_two_arguments_of_one_shape_are_read_from_keras_record_alone():
    model = TwoArguments(name="pair")
    model(_x(2, 4), _x(2, 4))
    object.__delattr__(model, "_helpers_first_call")
    assert helpers.call_counts(model) == {"enc": 2, "head": 1}


def test_what_cannot_be_read_is_named_in_a_failed_check():
    class Mixed(Base):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.wide = layers.Dense(1, name="wide")

        def call(self, a, b):
            return self.head(self.enc(a)) + self.wide(b)

    model = Mixed(name="mixed")
    model(_x(2, 4), _x(2, 6))
    object.__delattr__(model, "_helpers_first_call")  # as if built before helpers was imported
    with pytest.raises(InspectionError, match="only the shape of its first argument"):
        helpers.sharing_report(model)
    with pytest.raises(helpers.CheckFailed, match="'b'.*call the model once more"):
        helpers.assert_shared(model, "enc", "enc")
