"""helpers.sharing: shared or separate, same architecture or not, and the sharing report."""

from __future__ import annotations

import copy

import keras
import numpy as np
import pytest
from keras import layers

from helpers.sharing import (
    same_architecture,
    separate_copies,
    shared_variables,
    shares_weights,
    sharing_groups,
    sharing_report,
)
from helpers.tables import Table

# --- sharing_report --------------------------------------------------------------------------


def test_siamese_report_lists_the_shared_kernel_once(siamese):
    report = sharing_report(siamese)
    assert isinstance(report, Table)
    assert report.title == "Sharing report for 'siamese'"
    assert report.columns == ["variable", "shape", "params", "trainable", "used by", "shared"]
    assert report.rows[0] == ["encoder/kernel", (4, 3), 12, True, "encoder[1], encoder[2]", True]
    assert report.rows[2] == ["score/kernel", (3, 1), 3, True, "score", False]
    assert sum(report.column("params")) == siamese.count_params() == 19
    assert report.footer == [
        "4 variables, 19 parameters; 2 shared variables holding 15 parameters."
    ]


@pytest.mark.parametrize(
    "fixture",
    [
        "siamese",
        "two_towers",
        "submodel_twice",
        "sequential_twice",
        "cloned_towers",
        "from_config_pair",
        "deepcopy_pair",
        "set_weights_pair",
        "frozen_shared",
        "identity_clone",
        "tied_autoencoder",
        "tracked_tied_autoencoder",
        "untied_autoencoder",
        "wrapper_model",
        "tied_lm",
        "zoo",
        "unused_weights",
    ],
)
def test_report_params_add_up_to_keras_count(fixture, request):
    model = request.getfixturevalue(fixture)
    report = sharing_report(model)
    assert sum(report.column("params")) == model.count_params()
    variables = report.column("variable")
    assert len(variables) == len(model.weights)  # each variable once, however many users


def test_conv2d_shared_by_two_branches_adds_320_not_640():
    a, b = keras.Input((8, 8, 1), name="a"), keras.Input((8, 8, 1), name="b")
    conv = layers.Conv2D(32, 3, name="conv")
    model = keras.Model([a, b], layers.Concatenate(name="join")([conv(a), conv(b)]))
    assert model.count_params() == 320
    assert sum(sharing_report(model).column("params")) == 320


def test_report_footer_singular_and_no_sharing(two_towers, tied_lm):
    assert sharing_report(two_towers).footer == [
        "4 variables, 30 parameters; 0 shared variables holding 0 parameters."
    ]
    assert sharing_report(tied_lm).footer == [
        "3 variables, 64 parameters; 1 shared variable holding 44 parameters."
    ]


def test_report_shows_variables_no_call_reads(unused_weights):
    rows = {row[0]: row for row in sharing_report(unused_weights).rows}
    assert rows["wrap/spare/kernel"][2:] == [6, True, "(no call)", False]
    assert rows["wrap/used/kernel"][4] == "wrap"
    assert sharing_groups(unused_weights) == [["first"], ["wrap"]]


def test_report_marks_frozen_variables(frozen_shared):
    report = sharing_report(frozen_shared)
    assert report.column("trainable") == [False, False, True, True]
    assert report.column("shared") == [True, True, False, False]


def test_report_shows_the_tie(tied_autoencoder):
    row = sharing_report(tied_autoencoder).rows[0]
    assert row[0] == "encoder/kernel" and row[4] == "encoder, decoder" and row[5] is True


# --- shared_variables / shares_weights --------------------------------------------------------


def test_siamese_shares_with_itself_across_calls(siamese):
    encoder = siamese.get_layer("encoder")
    for ref in ("encoder", encoder):
        shared = shared_variables(siamese, ref, "encoder")
        assert len(shared) == 2
        assert shared[0] is encoder.kernel and shared[1] is encoder.bias
    assert shares_weights(siamese, "encoder", "encoder")
    assert not shares_weights(siamese, "score", "score")  # called once
    assert not shares_weights(siamese, "encoder", "score")


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
def test_new_instances_and_copies_are_separate(fixture, a, b, request):
    model = request.getfixturevalue(fixture)
    assert shared_variables(model, a, b) == []
    assert not shares_weights(model, a, b)
    assert same_architecture(model.get_layer(a), model.get_layer(b))
    assert separate_copies(model, a, b)


def test_clone_and_deepcopy_keep_paths_yet_are_separate(cloned_towers, deepcopy_pair):
    first, second = cloned_towers.get_layer("first"), cloned_towers.get_layer("second")
    assert [w.path for w in first.weights] == [w.path for w in second.weights]
    assert not shares_weights(cloned_towers, first, second)
    original, twin = deepcopy_pair.get_layer("original"), deepcopy_pair.get_layer("copy")
    assert [w.path for w in original.weights] == [w.path for w in twin.weights]
    assert not shares_weights(deepcopy_pair, original, twin)


def test_identity_clone_shares_everything(identity_clone):
    shared = shared_variables(identity_clone, "first", "alias")
    assert [v.path for v in shared] == [w.path for w in identity_clone.get_layer("first").weights]
    assert shares_weights(identity_clone, "first", "alias")
    assert same_architecture(identity_clone.get_layer("first"), identity_clone.get_layer("alias"))
    assert not separate_copies(identity_clone, "first", "alias")


def test_tied_layers_share_only_the_kernel(
    tied_autoencoder, tracked_tied_autoencoder, untied_autoencoder
):
    for model in (tied_autoencoder, tracked_tied_autoencoder):
        shared = shared_variables(model, "encoder", "decoder")
        assert [v.path for v in shared] == ["encoder/kernel"]
        assert shared[0] is model.get_layer("encoder").kernel
    assert not shares_weights(untied_autoencoder, "encoder", "decoder")


def test_set_weights_copies_drift_apart_after_one_training_step(set_weights_pair):
    model = set_weights_pair
    first, second = model.get_layer("first"), model.get_layer("second")
    np.testing.assert_array_equal(first.kernel.numpy(), second.kernel.numpy())
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    rng = np.random.default_rng(0)
    x = [rng.normal(size=(4, 4)), rng.normal(size=(4, 4))]
    model.fit(x, rng.normal(size=(4, 6)), epochs=1, batch_size=4, verbose=0)
    assert not np.allclose(first.kernel.numpy(), second.kernel.numpy())
    assert not shares_weights(model, "first", "second")


# --- sharing_groups ----------------------------------------------------------------------------


def test_sharing_groups(siamese, two_towers, tied_autoencoder, identity_clone):
    assert sharing_groups(siamese) == [["encoder"], ["score"]]  # layers without variables left out
    assert sharing_groups(two_towers) == [["tower_a"], ["tower_b"]]
    assert sharing_groups(tied_autoencoder) == [["encoder", "decoder"]]
    assert sharing_groups(identity_clone) == [["first", "alias"]]


def test_sharing_groups_are_transitive():
    x = keras.Input((3,), name="x")
    a = layers.Dense(3, name="a")
    h = a(x)

    class Reads(layers.Layer):
        """Adds another layer's bias: ties this layer to it."""

        def __init__(self, other, **kwargs):
            super().__init__(**kwargs)
            object.__setattr__(self, "other", other)

        def call(self, inputs):
            return inputs + self.other.bias

    b = Reads(a, name="b")  # b reads a's bias
    c = layers.Dense(3, name="c")
    d = Reads(c, name="d")  # d reads c's bias
    e = Reads(a, name="e")  # e reads a's bias too
    model = keras.Model(x, e(d(c(b(h)))))
    assert sharing_groups(model) == [["a", "b", "e"], ["c", "d"]]


# --- same_architecture -------------------------------------------------------------------------


def test_same_architecture_ignores_names_and_values_but_not_settings():
    one, two = (
        layers.Dense(3, name="one"),
        layers.Dense(3, name="two", kernel_initializer="glorot_uniform"),
    )
    one.build((None, 4))
    two.build((None, 4))
    assert same_architecture(one, two)
    wider = layers.Dense(4)
    wider.build((None, 4))
    assert not same_architecture(one, wider)
    relu = layers.Dense(3, activation="relu")
    relu.build((None, 4))
    assert not same_architecture(one, relu)
    other_input = layers.Dense(3)
    other_input.build((None, 5))  # same settings, different kernel shape
    assert not same_architecture(one, other_input)
    assert not same_architecture(one, layers.Conv1D(3, 1))


def test_same_architecture_of_models(cloned_towers, submodel_twice):
    from known_models import tower

    first = cloned_towers.get_layer("first")
    assert same_architecture(first, cloned_towers.get_layer("second"))
    assert same_architecture(first, submodel_twice.get_layer("shared_tower"))  # names differ
    x = keras.Input((4,))
    deeper = keras.Model(x, layers.Dense(2)(layers.Dense(5)(layers.Dense(4)(x))))
    assert not same_architecture(first, deeper)
    assert same_architecture(first, tower("third"))
    assert same_architecture(copy.deepcopy(first), first)


def test_same_architecture_of_custom_layers_without_config(
    tied_autoencoder, tracked_tied_autoencoder
):
    assert same_architecture(
        tied_autoencoder.get_layer("decoder"), tied_autoencoder.get_layer("decoder")
    )
    # Same class, same variable shapes; the tracked one also tracks the encoder's variables.
    assert not same_architecture(
        tied_autoencoder.get_layer("decoder"), tracked_tied_autoencoder.get_layer("decoder")
    )


def test_separate_copies_is_false_for_different_architectures_and_for_one_layer(
    siamese, untied_autoencoder
):
    assert not separate_copies(untied_autoencoder, "encoder", "decoder")  # separate, but not copies
    assert not separate_copies(siamese, "encoder", "encoder")
