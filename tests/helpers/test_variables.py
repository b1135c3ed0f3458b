"""helpers.variables: variable identity, and which calls really read which variables."""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

from helpers.variables import same_variable, variable_id, variable_uses, variables_used_by


def paths(variables) -> list[str]:
    return [v.path for v in variables]


def uses_by_path(model: keras.Model) -> dict[str, list[str]]:
    return {use.path: use.labels for use in variable_uses(model)}


# --- identity ------------------------------------------------------------------------------


def test_variable_id_is_identity_not_value_nor_path(deepcopy_pair):
    original, twin = deepcopy_pair.get_layer("original"), deepcopy_pair.get_layer("copy")
    # deepcopy keeps the values AND the path: only identity tells the two kernels apart.
    assert original.kernel.path == twin.kernel.path == "original/kernel"
    np.testing.assert_array_equal(original.kernel.numpy(), twin.kernel.numpy())
    assert variable_id(original.kernel) != variable_id(twin.kernel)
    assert not same_variable(original.kernel, twin.kernel)
    assert variable_id(original.kernel) == variable_id(deepcopy_pair.weights[0])
    assert same_variable(original.kernel, deepcopy_pair.weights[0])


def test_set_weights_copies_values_into_other_variables(set_weights_pair):
    first, second = set_weights_pair.get_layer("first"), set_weights_pair.get_layer("second")
    np.testing.assert_array_equal(first.kernel.numpy(), second.kernel.numpy())
    assert not same_variable(first.kernel, second.kernel)
    assert variable_id(first.kernel) != variable_id(second.kernel)


def test_variable_id_works_as_a_dict_key_where_variables_cannot():
    v = keras.Variable(np.zeros(2))
    table = {variable_id(v): "v"}
    assert table[variable_id(v)] == "v"


# --- which calls read which variables ---------------------------------------------------------


def test_siamese_one_kernel_two_calls(siamese):
    uses = variable_uses(siamese)
    assert [u.path for u in uses] == [
        "encoder/kernel",
        "encoder/bias",
        "score/kernel",
        "score/bias",
    ]
    kernel = uses[0]
    assert kernel.variable is siamese.get_layer("encoder").kernel
    assert kernel.labels == ["encoder[1]", "encoder[2]"]
    assert kernel.layers == ["encoder"]
    assert kernel.is_shared
    assert (kernel.shape, kernel.size, kernel.trainable) == ((4, 3), 12, True)
    assert not uses[2].is_shared and uses[2].labels == ["score"]


def test_separate_towers_use_separate_variables(two_towers):
    assert uses_by_path(two_towers) == {
        "tower_a/kernel": ["tower_a"],
        "tower_a/bias": ["tower_a"],
        "tower_b/kernel": ["tower_b"],
        "tower_b/bias": ["tower_b"],
    }


def test_submodel_used_twice_shares_every_inner_variable(submodel_twice):
    uses = variable_uses(submodel_twice)
    assert len(uses) == 4
    assert all(u.labels == ["shared_tower[1]", "shared_tower[2]"] for u in uses)


def test_deepcopy_with_equal_paths_is_still_two_sets_of_variables(deepcopy_pair):
    uses = variable_uses(deepcopy_pair)
    assert [u.path for u in uses] == ["original/kernel", "original/bias"] * 2
    assert [u.labels for u in uses] == [["original"], ["original"], ["copy"], ["copy"]]
    assert not any(u.is_shared for u in uses)


def test_untracked_tie_is_found_by_replaying_the_call(tied_autoencoder):
    decoder, encoder = tied_autoencoder.get_layer("decoder"), tied_autoencoder.get_layer("encoder")
    assert paths(decoder.weights) == ["decoder/bias"]  # Keras does not see the tie...
    used = variables_used_by(tied_autoencoder, "decoder")
    assert paths(used) == ["encoder/kernel", "decoder/bias"]  # ...the replay does
    assert used[0] is encoder.kernel
    assert uses_by_path(tied_autoencoder)["encoder/kernel"] == ["encoder", "decoder"]


def test_tracked_tie_reads_the_kernel_but_not_the_bias_it_tracks(tracked_tied_autoencoder):
    model = tracked_tied_autoencoder
    decoder = model.get_layer("decoder")
    assert set(paths(decoder.weights)) == {"decoder/bias", "encoder/kernel", "encoder/bias"}
    used = paths(variables_used_by(model, decoder))
    assert "encoder/kernel" in used and "decoder/bias" in used
    assert "encoder/bias" not in used
    assert uses_by_path(model)["encoder/bias"] == ["encoder"]


def test_wrapper_calling_one_inner_dense_twice_shares_it(wrapper_model):
    # The reuse happens inside one call of 'wrap': the two inner calls are the uses.
    uses = variable_uses(wrapper_model)
    both = ["wrap/inner[1]", "wrap/inner[2]"]
    assert [(u.path, u.labels) for u in uses] == [
        ("wrap/inner/kernel", both),
        ("wrap/inner/bias", both),
    ]
    assert all(u.is_shared and u.layers == ["wrap"] for u in uses)
    assert paths(variables_used_by(wrapper_model, "wrap")) == [
        "wrap/inner/kernel",
        "wrap/inner/bias",
    ]


def test_tied_embedding_is_read_by_both_calls(tied_lm):
    uses = uses_by_path(tied_lm)
    assert uses["embed/embeddings"] == ["embed[1]", "embed[2]"]
    assert paths(variables_used_by(tied_lm, "embed", call=2)) == ["embed/embeddings"]


def test_variables_used_by_one_call(siamese):
    encoder = siamese.get_layer("encoder")
    for call in (1, 2, None):
        assert paths(variables_used_by(siamese, encoder, call=call)) == [
            "encoder/kernel",
            "encoder/bias",
        ]
    assert variables_used_by(siamese, encoder, call=3) == []
    assert variables_used_by(siamese, "difference") == []


def test_frozen_shared_layer_has_one_non_trainable_kernel(frozen_shared):
    kernel = variable_uses(frozen_shared)[0]
    assert kernel.path == "encoder/kernel"
    assert kernel.labels == ["encoder[1]", "encoder[2]"]
    assert kernel.trainable is False


def test_batchnorm_statistics_are_read_but_replay_changes_nothing():
    x = keras.Input((3,), name="x")
    bn = layers.BatchNormalization(name="bn")
    model = keras.Model(
        x, bn(layers.Dense(3, name="d")(x), training=True)
    )  # training: updates stats
    before = [v.numpy().copy() for v in model.weights]
    used = uses_by_path(model)
    assert set(used) == {
        "d/kernel",
        "d/bias",
        "bn/gamma",
        "bn/beta",
        "bn/moving_mean",
        "bn/moving_variance",
    }
    for old, variable in zip(before, model.weights, strict=True):
        np.testing.assert_array_equal(old, variable.numpy())
    # Without the recorder, the same call on zeros would move the moving variance.
    bn(np.zeros((2, 3), "float32"), training=True)
    assert not np.array_equal(before[-1], bn.moving_variance.numpy())


def test_random_seed_state_is_not_a_weight():
    x = keras.Input((4,), name="x")
    h = layers.Dropout(0.5, name="drop")(layers.Dense(3, name="d")(x), training=True)
    model = keras.Model(x, h)
    assert [u.path for u in variable_uses(model)] == ["d/kernel", "d/bias"]
    assert sum(u.size for u in variable_uses(model)) == model.count_params()


def test_zoo_reads_every_weight_exactly_once(zoo):
    uses = variable_uses(zoo)
    assert sorted(u.path for u in uses) == sorted(w.path for w in zoo.weights)
    assert sum(u.size for u in uses) == zoo.count_params()
    assert [variable_id(u.variable) for u in uses] == [
        variable_id(w) for w in zoo.weights
    ]  # model order


def test_a_tracked_variable_no_call_reads_has_no_calls(unused_weights):
    uses = {u.path: u for u in variable_uses(unused_weights)}
    assert list(uses) == [w.path for w in unused_weights.weights]
    assert uses["wrap/used/kernel"].labels == ["wrap"]
    assert uses["wrap/spare/kernel"].calls == [] and uses["wrap/spare/kernel"].layers == []
    assert not uses["wrap/spare/kernel"].is_shared
    assert [v.path for v in variables_used_by(unused_weights, "wrap")] == [
        "wrap/used/kernel",
        "wrap/used/bias",
    ]
