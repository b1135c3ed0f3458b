"""helpers.calls: which layers a model calls, how often, in which order."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

from helpers.calls import Call, call_counts, layer_calls, resolve_layer


def labels(model: keras.Model) -> list[str]:
    return [call.label for call in layer_calls(model)]


def test_siamese_encoder_is_one_layer_with_two_calls(siamese):
    calls = layer_calls(siamese)
    assert labels(siamese) == ["encoder[1]", "encoder[2]", "difference", "score"]
    first, second = calls[0], calls[1]
    assert first.layer is second.layer is siamese.get_layer("encoder")
    assert (first.number, first.of) == (1, 2)
    assert (second.number, second.of) == (2, 2)
    assert repr(second) == "Call(encoder[2])"
    assert call_counts(siamese) == {"encoder": 2, "difference": 1, "score": 1}


def test_call_numbers_follow_the_order_the_calls_were_made():
    x = keras.Input((4,), name="x")
    encoder = layers.Dense(4, name="encoder")
    made_first = encoder(layers.Dense(4, name="pre")(x))  # the deeper call, made first
    made_second = encoder(x)  # nearer the input, made second
    out = layers.Dense(4, name="post2")(layers.Dense(4, name="post")(made_second))
    model = keras.Model(x, [made_first, out])
    calls = layer_calls(model)
    # Keras gives every call of one layer the same depth; calls at one depth are listed in
    # the order they were made, whatever order the graph keeps them in.
    assert [c.label for c in calls] == ["pre", "encoder[1]", "encoder[2]", "post", "post2"]
    by_label = {c.label: c for c in calls}
    assert by_label["encoder[1]"]._node.output_tensors[0] is made_first
    assert by_label["encoder[2]"]._node.output_tensors[0] is made_second


def test_two_towers_are_two_layers_called_once(two_towers):
    assert call_counts(two_towers) == {"tower_a": 1, "tower_b": 1, "join": 1}
    assert [c.label for c in layer_calls(two_towers)] == ["tower_a", "tower_b", "join"]


def test_a_submodel_or_sequential_used_twice_is_one_layer_called_twice(
    submodel_twice, sequential_twice
):
    assert call_counts(submodel_twice) == {"shared_tower": 2, "join": 1}
    assert call_counts(sequential_twice) == {"block": 2, "join": 1}


def test_inputs_are_not_calls(siamese):
    assert all(not isinstance(c.layer, keras.layers.InputLayer) for c in layer_calls(siamese))


def test_calls_come_in_data_flow_order_inputs_first():
    x = keras.Input((4,), name="x")
    d1, d2 = layers.Dense(4, name="d1"), layers.Dense(4, name="d2")
    model = keras.Model(x, d2(d1(d1(x))))
    assert labels(model) == ["d1[1]", "d1[2]", "d2"]


def test_a_layer_shared_by_two_models_counts_only_the_calls_of_each(layer_in_two_models):
    once, twice = layer_in_two_models
    assert call_counts(once) == {"dense": 1}
    assert call_counts(twice) == {"dense": 2, "middle": 1}
    assert labels(twice) == ["dense[1]", "middle", "dense[2]"]


def test_call_shapes(siamese, tied_lm):
    encoder_call = layer_calls(siamese)[0]
    assert encoder_call.input_shapes == [(None, 4)]
    assert encoder_call.output_shapes == [(None, 3)]
    difference = layer_calls(siamese)[2]
    assert difference.input_shapes == [(None, 3), (None, 3)]
    embed_in, _, embed_out = layer_calls(tied_lm)
    assert (embed_in.input_shapes, embed_in.output_shapes) == ([(None, 5)], [(None, 5, 4)])
    assert (embed_out.input_shapes, embed_out.output_shapes) == ([(None, 5, 4)], [(None, 5, 11)])


def test_replay_arguments_are_zeros_with_flags_kept(tied_lm):
    embed_in, _, embed_out = layer_calls(tied_lm)
    args, kwargs = embed_in.replay_arguments()
    assert len(args) == 1 and tuple(args[0].shape) == (2, 5)  # unknown batch size -> 2
    assert keras.backend.standardize_dtype(args[0].dtype) == "int32"
    assert not np.any(keras.ops.convert_to_numpy(args[0]))
    args, kwargs = embed_out.replay_arguments()
    assert tuple(args[0].shape) == (2, 5, 4)
    assert kwargs == {"reverse": True}
    # Replaying runs the same code path: the reverse call projects onto the vocabulary.
    assert tuple(embed_out.layer(*args, **kwargs).shape) == (2, 5, 11)


def test_replay_arguments_of_a_call_on_a_list(siamese):
    difference = layer_calls(siamese)[2]
    (pair,), kwargs = difference.replay_arguments()
    assert [tuple(t.shape) for t in pair] == [(2, 3), (2, 3)]


def test_sequential_models_are_supported():
    model = keras.Sequential(
        [keras.Input((3,)), layers.Dense(2, name="a"), layers.Dense(1, name="b")]
    )
    assert labels(model) == ["a", "b"]


def test_a_subclassed_model_is_traced():
    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__(name="subclassed")
            self.dense = layers.Dense(2, name="dense")
            self.head = layers.Dense(1, name="head")

        def call(self, x):
            return self.head(self.dense(x) + self.dense(x))

    model = Subclassed()
    model(np.zeros((5, 3)))
    calls = layer_calls(model)
    assert [c.label for c in calls] == ["dense[1]", "dense[2]", "head"]
    assert calls[0].input_shapes == [(None, 3)] and calls[2].output_shapes == [(None, 1)]
    assert call_counts(model) == {"dense": 2, "head": 1}
    (zeros,), _ = calls[0].replay_arguments()
    assert tuple(zeros.shape) == (2, 3)


def test_a_subclassed_model_never_called_is_explained():
    from helpers.analysis import InspectionError

    class Subclassed(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(
        InspectionError, match="no record of the shape of its inputs.*call it once.*model.build"
    ):
        layer_calls(Subclassed(name="fresh"))


def test_operations_in_a_graph_are_not_calls():
    tokens = keras.Input((None,), dtype="int32", name="tokens")
    embedded = layers.Embedding(10, 4, mask_zero=True, name="embed")(tokens)  # adds a NotEqual node
    a, b = layers.Dense(3, name="d")(embedded), layers.Dense(3, name="e")(embedded)
    out = keras.ops.concatenate([a - b, a * 2], axis=-1)
    model = keras.Model(tokens, layers.LSTM(2, name="lstm")(out))
    assert call_counts(model) == {"embed": 1, "d": 1, "e": 1, "lstm": 1}


def test_nested_calls_follow_their_call(wrapper_model):
    assert [c.label for c in layer_calls(wrapper_model, nested=True)] == [
        "wrap",
        "wrap/inner[1]",
        "wrap/inner[2]",
    ]
    inner = layer_calls(wrapper_model, nested=True)[2]
    assert inner.parent.label == "wrap" and inner.top is inner.parent
    assert inner.input_shapes == [(None, 4)] and inner.output_shapes == [(None, 3)]


def test_resolve_layer_by_name_and_by_object(siamese):
    encoder = siamese.get_layer("encoder")
    assert resolve_layer(siamese, "encoder") is encoder
    assert resolve_layer(siamese, encoder) is encoder


def test_resolve_layer_unknown_name_lists_the_layers(siamese):
    with pytest.raises(LookupError) as info:
        resolve_layer(siamese, "encodr")
    message = str(info.value)
    assert "no layer named 'encodr'" in message
    for name in ("left", "right", "encoder", "difference", "score"):
        assert repr(name) in message


def test_resolve_layer_rejects_a_layer_of_another_model(siamese, two_towers):
    with pytest.raises(LookupError, match="'tower_a' is not one of the layers of model 'siamese'"):
        resolve_layer(siamese, two_towers.get_layer("tower_a"))


def test_call_is_exported_from_the_package():
    import helpers

    assert helpers.Call is Call
