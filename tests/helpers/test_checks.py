"""helpers.checks: every check passes on the right model and fails, with a message that
names the layers and variables involved, on a wrong one."""

from __future__ import annotations

import keras
import pytest
from keras import layers

import helpers
from helpers.checks import (
    CheckFailed,
    assert_calls,
    assert_not_shared,
    assert_output_shape,
    assert_param_budget,
    assert_param_count,
    assert_separate_copies,
    assert_shared,
    assert_sharing_map,
    assert_tied,
)


def failure(check, *args, **kwargs) -> str:
    """The message of the CheckFailed that ``check(*args, **kwargs)`` must raise."""
    with pytest.raises(CheckFailed) as info:
        check(*args, **kwargs)
    return str(info.value)


def test_check_failed_is_an_assertion_error():
    assert issubclass(CheckFailed, AssertionError)
    assert helpers.CheckFailed is CheckFailed


# --- assert_calls -------------------------------------------------------------------------------


def test_assert_calls_passes(siamese, submodel_twice, sequential_twice, two_towers):
    assert_calls(siamese, "encoder", 2)
    assert_calls(siamese, siamese.get_layer("score"), 1)
    assert_calls(submodel_twice, "shared_tower", 2)
    assert_calls(sequential_twice, "block", 2)
    assert_calls(two_towers, "tower_a", 1)


def test_assert_calls_two_new_layers_instead_of_one_called_twice(two_towers):
    message = failure(assert_calls, two_towers, "tower_a", 2)
    assert "Layer 'tower_a' should be called 2 times" in message
    assert "your model calls it 1 time." in message
    assert "also has 'tower_b' of the same kind and shape, with weights of its own" in message
    assert "call that same object on every input" in message


def test_assert_calls_called_too_often(siamese):
    message = failure(assert_calls, siamese, "encoder", 1)
    assert "Layer 'encoder' should be called 1 time" in message
    assert "calls it 2 times" in message
    assert "also has" not in message


def test_assert_calls_does_not_call_an_alias_a_layer_with_its_own_weights(identity_clone):
    message = failure(assert_calls, identity_clone, "first", 2)
    assert "calls it 1 time" in message
    assert "'alias'" not in message  # the alias shares first's weights: it is not a twin


# --- assert_shared / assert_not_shared ------------------------------------------------------------


def test_assert_shared_passes(
    siamese, tied_autoencoder, tracked_tied_autoencoder, identity_clone, tied_lm
):
    assert_shared(siamese, "encoder", "encoder")
    assert_shared(tied_autoencoder, "encoder", "decoder")
    assert_shared(tracked_tied_autoencoder, "decoder", "encoder")
    assert_shared(identity_clone, "first", "alias")
    assert_shared(tied_lm, "embed", "embed")


@pytest.mark.parametrize(
    "fixture, a, b",
    [
        ("two_towers", "tower_a", "tower_b"),
        ("set_weights_pair", "first", "second"),
        ("deepcopy_pair", "original", "copy"),
    ],
)
def test_assert_shared_fails_on_separate_weights_and_names_them(fixture, a, b, request):
    model = request.getfixturevalue(fixture)
    message = failure(assert_shared, model, a, b)
    assert (
        f"Layers {a!r} and {b!r} should share weights, but they use different variables." in message
    )
    kernel = model.get_layer(b).kernel
    assert f"{b!r} uses {kernel.path} (4, 3)" in message
    assert "Equal shapes are not enough" in message


def test_assert_shared_one_layer_called_once(siamese):
    message = failure(assert_shared, siamese, "score", "score")
    assert "Layer 'score' should be used more than once" in message
    assert "calls it only once" in message


def test_assert_shared_untied_decoder(untied_autoencoder):
    message = failure(assert_shared, untied_autoencoder, "encoder", "decoder")
    assert "'decoder' uses decoder/kernel (3, 6), decoder/bias (6,)" in message


def test_assert_not_shared_passes(
    two_towers, cloned_towers, from_config_pair, deepcopy_pair, set_weights_pair, untied_autoencoder
):
    assert_not_shared(two_towers, "tower_a", "tower_b")
    assert_not_shared(cloned_towers, "first", "second")
    assert_not_shared(from_config_pair, "original", "copy")
    assert_not_shared(deepcopy_pair, "original", "copy")
    assert_not_shared(set_weights_pair, "first", "second")
    assert_not_shared(untied_autoencoder, "encoder", "decoder")


def test_assert_not_shared_one_layer_object(siamese):
    encoder = siamese.get_layer("encoder")
    message = failure(assert_not_shared, siamese, encoder, encoder)
    assert "'encoder' and 'encoder' should be two layers with separate weights" in message
    assert "one layer object called 2 times" in message
    assert "<" not in message  # names, not Layer reprs


def test_assert_not_shared_alias_lists_the_common_variables(identity_clone):
    message = failure(assert_not_shared, identity_clone, "first", "alias")
    assert "Layers 'first' and 'alias' should have separate weights" in message
    assert "the same 4 variables: first_hidden/kernel (4, 5), first_hidden/bias (5,)" in message


def test_assert_not_shared_tie(tied_autoencoder):
    message = failure(assert_not_shared, tied_autoencoder, "encoder", "decoder")
    assert "the same 1 variable: encoder/kernel (6, 3)." in message


# --- assert_separate_copies -------------------------------------------------------------------


@pytest.mark.parametrize(
    "fixture, a, b",
    [
        ("two_towers", "tower_a", "tower_b"),
        ("cloned_towers", "first", "second"),
        ("from_config_pair", "original", "copy"),
        ("deepcopy_pair", "original", "copy"),
        ("set_weights_pair", "first", "second"),
    ],
)
def test_assert_separate_copies_passes(fixture, a, b, request):
    assert_separate_copies(request.getfixturevalue(fixture), a, b)


def test_assert_separate_copies_fails_when_shared(identity_clone, siamese):
    message = failure(assert_separate_copies, identity_clone, "first", "alias")
    assert "should have separate weights" in message and "first_out/kernel (5, 2)" in message
    message = failure(assert_separate_copies, siamese, "encoder", "encoder")
    assert "one layer object called 2 times" in message


def test_assert_separate_copies_fails_on_different_architectures(untied_autoencoder):
    message = failure(assert_separate_copies, untied_autoencoder, "encoder", "decoder")
    assert (
        "'encoder' and 'decoder' should be copies of one architecture, but they differ" in message
    )
    assert (
        "'encoder' is a Dense with 21 parameters in variables of shapes [(6, 3), (3,)]" in message
    )
    assert (
        "'decoder' is a Dense with 24 parameters in variables of shapes [(3, 6), (6,)]" in message
    )


# --- assert_tied --------------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["tied_autoencoder", "tracked_tied_autoencoder"])
def test_assert_tied_passes(fixture, request):
    model = request.getfixturevalue(fixture)
    assert_tied(model, "decoder", "encoder")
    assert_tied(model, model.get_layer("decoder"), model.get_layer("encoder"), "kernel")


def test_assert_tied_fails_on_untied_decoder_naming_its_kernel(untied_autoencoder):
    message = failure(assert_tied, untied_autoencoder, "decoder", "encoder")
    assert "Layer 'decoder' should be tied to 'encoder'" in message
    assert (
        "it should use encoder/kernel (6, 3) itself, but it does not read that variable" in message
    )
    assert "'decoder' uses decoder/kernel (3, 6), decoder/bias (6,)" in message


def test_assert_tied_tracked_is_not_used(tracked_tied_autoencoder):
    # The tracked decoder lists encoder/bias among its weights, but never reads it.
    assert "encoder/bias" in [w.path for w in tracked_tied_autoencoder.get_layer("decoder").weights]
    message = failure(assert_tied, tracked_tied_autoencoder, "decoder", "encoder", "bias")
    assert "it should use encoder/bias (3,) itself, but it does not read that variable" in message


def test_assert_tied_unknown_variable_lists_the_variables(tied_autoencoder):
    message = failure(assert_tied, tied_autoencoder, "decoder", "encoder", "weights")
    assert "Layer 'encoder' has no variable named 'weights'" in message
    assert "encoder/kernel (6, 3), encoder/bias (3,)" in message


def test_assert_tied_embedding(tied_lm):
    assert_tied(tied_lm, "embed", "embed", "embeddings")
    message = failure(assert_tied, tied_lm, "mix", "embed", "embeddings")
    assert "'mix' should be tied to 'embed'" in message and "embed/embeddings (11, 4)" in message


# --- assert_sharing_map -------------------------------------------------------------------------


def trunk_and_heads(*, shared_trunk: bool = True, shared_heads: bool = False) -> keras.Model:
    """A trunk on two inputs, then one head per branch."""
    a, b = keras.Input((4,), name="a"), keras.Input((4,), name="b")
    trunk = layers.Dense(8, name="trunk")
    trunk_b = trunk if shared_trunk else layers.Dense(8, name="trunk_again")
    if shared_heads:  # two head sub-models built around ONE projection layer
        proj = layers.Dense(2, name="proj")
        heads = []
        for name in ("head_a", "head_b"):
            x = keras.Input((8,))
            heads.append(keras.Model(x, proj(x), name=name))
        head_a, head_b = heads
    else:
        head_a, head_b = layers.Dense(2, name="head_a"), layers.Dense(2, name="head_b")
    return keras.Model([a, b], [head_a(trunk(a)), head_b(trunk_b(b))], name="trunk_heads")


SPEC = {"trunk": 2, "head_a": 1, "head_b": 1}


def test_sharing_map_shared_trunk_separate_heads_passes():
    model = trunk_and_heads()
    assert_sharing_map(model, calls=SPEC)
    assert_sharing_map(model, calls=SPEC, groups=[["trunk"]])


def test_sharing_map_heads_accidentally_shared_fails():
    message = failure(assert_sharing_map, trunk_and_heads(shared_heads=True), calls=SPEC)
    assert message.startswith("The model does not share weights as specified:")
    assert "['head_a', 'head_b'] share variables, but they should not" in message


def test_sharing_map_trunk_rebuilt_per_input_fails():
    message = failure(assert_sharing_map, trunk_and_heads(shared_trunk=False), calls=SPEC)
    assert "'trunk' should be called 2 times, but it is called 1 time." in message


def test_sharing_map_groups(tied_autoencoder, untied_autoencoder):
    assert_sharing_map(tied_autoencoder, groups=[["encoder", "decoder"]])
    assert_sharing_map(
        tied_autoencoder, calls={"encoder": 1, "decoder": 1}, groups=[("decoder", "encoder")]
    )
    message = failure(assert_sharing_map, untied_autoencoder, groups=[["encoder", "decoder"]])
    assert (
        "['decoder', 'encoder'] should share variables as one group, but the groups of layers "
        "sharing variables are [['encoder'], ['decoder']]"
    ) in message
    message = failure(assert_sharing_map, tied_autoencoder)  # sharing nobody asked for
    assert "['decoder', 'encoder'] share variables, but they should not" in message


def test_sharing_map_lists_every_problem(two_towers):
    message = failure(
        assert_sharing_map,
        two_towers,
        calls={"tower_a": 2, "tower_b": 1},
        groups=[["tower_a", "tower_b"]],
    )
    assert message.count("\n  - ") == 2
    assert "'tower_a' should be called 2 times" in message
    assert "['tower_a', 'tower_b'] should share variables as one group" in message


def test_sharing_map_group_larger_than_specified():
    a = keras.Input((4,), name="a")
    x = layers.Dense(4, name="one")(a)

    class UsesKernelOf(layers.Layer):
        def __init__(self, other, **kwargs):
            super().__init__(**kwargs)
            object.__setattr__(self, "other", other)

        def call(self, inputs):
            return keras.ops.matmul(inputs, self.other.kernel)

    one = x._keras_history.operation
    model = keras.Model(a, UsesKernelOf(one, name="three")(UsesKernelOf(one, name="two")(x)))
    message = failure(assert_sharing_map, model, groups=[["one", "two"]])
    assert "['one', 'two'] should share variables as one group" in message
    assert "[['one', 'three', 'two']]" in message
    assert "['one', 'three', 'two'] share variables, but they should not" in message


# --- parameter counts and shapes --------------------------------------------------------------


def test_assert_param_count(siamese, frozen_shared):
    assert_param_count(siamese, 19)
    assert_param_count(frozen_shared, 4, trainable=True)
    assert_param_count(frozen_shared, 15, trainable=False)
    message = failure(assert_param_count, siamese, 34)  # counting the shared encoder twice
    assert message.startswith("'siamese' should have 34 parameters, but it has 19 (-15).")
    assert "Where they are:\nParameters of 'siamese'" in message
    assert "encoder         15              0     15  encoder[2]" in message
    message = failure(assert_param_count, frozen_shared, 19, trainable=True)
    assert "'frozen' should have 19 trainable parameters, but it has 4 (-15)." in message
    message = failure(assert_param_count, frozen_shared, 0, trainable=False)
    assert "should have 0 non-trainable parameters, but it has 15 (+15)." in message


def test_assert_param_count_of_a_layer_has_no_table(siamese):
    encoder = siamese.get_layer("encoder")
    assert_param_count(encoder, 15)
    message = failure(assert_param_count, encoder, 30)
    assert message == "'encoder' should have 30 parameters, but it has 15 (-15)."


def test_assert_param_count_thousands_separators():
    x = keras.Input((999,))
    model = keras.Model(x, layers.Dense(10)(x), name="wide")
    assert "should have 1,000 parameters, but it has 10,000 (+9,000)." in failure(
        assert_param_count, model, 1000
    )


def test_assert_param_budget(siamese):
    assert_param_budget(siamese, 19)  # inclusive bounds
    assert_param_budget(siamese, 100, 19)
    message = failure(assert_param_budget, siamese, 18)
    assert message.startswith("'siamese' has 19 parameters, over the budget of 0 to 18.\n")
    message = failure(assert_param_budget, siamese, 100, minimum=20)
    assert message.startswith("'siamese' has 19 parameters, under the budget of 20 to 100.\n")


def test_assert_output_shape(siamese, tied_lm):
    assert_output_shape(siamese, (None, 1))
    assert_output_shape(tied_lm, [None, 5, 11])
    message = failure(assert_output_shape, tied_lm, (None, 11))
    assert message == "'tied_lm' should output shape (None, 11), but it outputs (None, 5, 11)."


def test_assert_output_shape_several_outputs():
    model = trunk_and_heads()
    assert_output_shape(model, [(None, 2), (None, 2)])
    message = failure(assert_output_shape, model, [(None, 2), (None, 3)])
    assert (
        "should output shape [(None, 2), (None, 3)], but it outputs [(None, 2), (None, 2)]."
        in message
    )


# --- common behaviour ---------------------------------------------------------------------------


LAYER_CHECKS = [
    (assert_calls, ("encodr", 2), {}),
    (assert_shared, ("encoder", "encodr"), {}),
    (assert_not_shared, ("encodr", "score"), {}),
    (assert_separate_copies, ("encoder", "encodr"), {}),
    (assert_tied, ("encodr", "encoder"), {}),
    (assert_sharing_map, (), {"calls": {"encodr": 2}}),
    (assert_sharing_map, (), {"groups": [["encoder", "encodr"]]}),
]


@pytest.mark.parametrize(
    "check, args, kwargs", LAYER_CHECKS, ids=lambda p: getattr(p, "__name__", "")
)
def test_unknown_layer_name_lists_the_model_layers(check, args, kwargs, siamese):
    message = failure(check, siamese, *args, **kwargs)
    assert "The model 'siamese' has no layer named 'encodr'." in message
    assert "Its layers are: 'left', 'right', 'encoder', 'difference', 'score'." in message
    assert "Check the name= you gave each layer." in message


def test_a_layer_object_of_another_model(siamese, two_towers):
    message = failure(assert_calls, siamese, two_towers.get_layer("tower_a"), 1)
    assert "'tower_a' is not one of the layers of model 'siamese'" in message


FAILING = [
    (assert_calls, ("two_towers", "tower_a", 2)),
    (assert_shared, ("two_towers", "tower_a", "tower_b")),
    (assert_not_shared, ("siamese", "encoder", "encoder")),
    (assert_separate_copies, ("untied_autoencoder", "encoder", "decoder")),
    (assert_tied, ("untied_autoencoder", "decoder", "encoder")),
    (assert_param_count, ("siamese", 34)),
    (assert_param_budget, ("siamese", 10)),
    (assert_output_shape, ("siamese", (None, 2))),
]


@pytest.mark.parametrize("check, args", FAILING, ids=[c.__name__ for c, _ in FAILING])
def test_every_check_appends_the_hint(check, args, request):
    model = request.getfixturevalue(args[0])
    message = failure(check, model, *args[1:], hint="Re-read section 2.")
    assert message.endswith("\nHint: Re-read section 2.")
    assert "Hint:" not in failure(check, model, *args[1:])


def test_sharing_map_hint(two_towers):
    message = failure(
        assert_sharing_map, two_towers, calls={"tower_a": 2}, hint="One layer, two calls."
    )
    assert message.endswith("\nHint: One layer, two calls.")


def test_passing_checks_return_none(siamese):
    assert assert_calls(siamese, "encoder", 2) is None
    assert assert_param_count(siamese, 19, hint="unused") is None
