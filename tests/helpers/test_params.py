"""helpers.params: parameter counts with each shared variable counted once."""

from __future__ import annotations

import keras
import pytest
from keras import layers

from helpers.params import block_params, count_params, param_table

ALL_MODELS = [
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
]


@pytest.mark.parametrize("fixture", ALL_MODELS)
def test_count_params_matches_keras(fixture, request):
    model = request.getfixturevalue(fixture)
    assert count_params(model) == model.count_params()
    assert count_params(model, trainable=True) == sum(
        int(w.numpy().size) for w in model.trainable_weights
    )
    assert count_params(model, trainable=False) == sum(
        int(w.numpy().size) for w in model.non_trainable_weights
    )
    assert count_params(model, trainable=True) + count_params(
        model, trainable=False
    ) == count_params(model)


@pytest.mark.parametrize("fixture", ALL_MODELS)
def test_param_table_and_blocks_add_up_to_keras_count(fixture, request):
    model = request.getfixturevalue(fixture)
    table = param_table(model)
    *body, total = table.rows
    assert total[0] == "total"
    assert sum(row[3] for row in body) == total[3] == model.count_params()
    assert all(row[1] + row[2] == row[3] for row in table.rows)
    assert sum(t + n for t, n in block_params(model).values()) == model.count_params()


def test_siamese_counts_the_shared_encoder_once(siamese):
    assert count_params(siamese) == 19  # encoder 4*3+3 once, score 3+1
    assert count_params(siamese.get_layer("encoder")) == 15
    assert block_params(siamese) == {"encoder": (15, 0), "score": (4, 0)}
    assert str(param_table(siamese)).splitlines() == [
        "Parameters of 'siamese'",
        "layer    trainable  non-trainable  total  shared with",
        "-------  ---------  -------------  -----  -----------",
        "encoder         15              0     15  encoder[2]",
        "score            4              0      4",
        "total           19              0     19",
    ]


def test_count_params_of_a_variable_list_counts_each_variable_once(siamese):
    encoder = siamese.get_layer("encoder")
    assert count_params([encoder.kernel, encoder.kernel, encoder.bias]) == 15
    assert count_params([]) == 0


def test_count_params_of_an_unbuilt_layer_is_zero():
    assert count_params(layers.Dense(3)) == 0


def test_frozen_shared_layer_is_non_trainable_once(frozen_shared):
    assert count_params(frozen_shared, trainable=False) == 15
    assert count_params(frozen_shared, trainable=True) == 4
    assert block_params(frozen_shared) == {"encoder": (0, 15), "head": (4, 0)}


def test_batchnorm_statistics_are_non_trainable(zoo):
    blocks = block_params(zoo)
    assert blocks["bn"] == (8, 8)  # gamma, beta | moving mean, moving variance over 4 channels


def test_tied_autoencoder_counts_the_kernel_under_the_encoder(
    tied_autoencoder, tracked_tied_autoencoder
):
    for model in (tied_autoencoder, tracked_tied_autoencoder):
        assert block_params(model) == {"encoder": (21, 0), "decoder": (6, 0)}
        rows = {row[0]: row for row in param_table(model).rows}
        assert rows["encoder"][4] == "decoder"  # the kernel is also used by the decoder
        assert rows["decoder"][4] == ""


def test_tracked_tie_layer_count_includes_what_it_tracks(tracked_tied_autoencoder):
    # What Keras reports for the decoder layer alone, and count_params agrees: it tracks
    # the encoder's kernel and bias. The model total still counts each variable once.
    decoder = tracked_tied_autoencoder.get_layer("decoder")
    assert count_params(decoder) == decoder.count_params() == 27
    assert count_params(tracked_tied_autoencoder) == 27


def test_blocks_as_a_mapping(zoo):
    blocks = block_params(
        zoo, {"image": ["conv", "bn"], "text": ["embed", "lstm", "gru", "rnn", "conv1d"]}
    )
    per_layer = block_params(zoo)
    assert blocks["image"] == (per_layer["conv"][0] + per_layer["bn"][0], per_layer["bn"][1])
    text = ["embed", "lstm", "gru", "rnn", "conv1d"]
    assert blocks["text"] == (sum(per_layer[n][0] for n in text), 0)
    assert blocks["head"] == per_layer["head"]  # layers in no block stay on their own
    assert list(blocks) == ["image", "text", "head"]


def test_blocks_as_a_function(cloned_towers):
    blocks = block_params(cloned_towers, lambda name: name.split("_")[0])
    assert blocks == {"first": (37, 0), "second": (37, 0)}
    table = param_table(cloned_towers, lambda name: name.split("_")[0])
    assert table.columns[0] == "block"
    assert table.column("total") == [37, 37, 74]


def test_param_table_names_calls_sharing_across_blocks(siamese):
    table = param_table(siamese, {"branch": ["encoder"], "out": ["score"]})
    rows = {row[0]: row for row in table.rows}
    assert rows["branch"][4] == "encoder[2]"  # a layer called twice inside one block


def test_param_table_sub_model_used_twice(submodel_twice):
    rows = {row[0]: row for row in param_table(submodel_twice).rows}
    assert rows["shared_tower"][1:] == [37, 0, 37, "shared_tower[2]"]
    assert "join" not in rows


def test_tied_lm_embedding_counted_once(tied_lm):
    assert block_params(tied_lm) == {"embed": (44, 0), "mix": (20, 0)}
    assert count_params(tied_lm) == 64


def test_variables_no_call_reads_are_counted_under_the_layer_that_tracks_them(unused_weights):
    # Keras counts the spare Dense inside 'wrap' (16 = used 8 + spare 8); so do the helpers.
    assert block_params(unused_weights) == {"first": (12, 0), "wrap": (16, 0)}
    assert param_table(unused_weights).rows[-1] == ["total", 28, 0, 28, ""]
    assert unused_weights.count_params() == 28


def test_layer_without_weights_has_no_row(siamese):
    assert "difference" not in param_table(siamese).column("layer")


def test_model_summary_agrees(siamese):
    # The ground truth a learner sees: model.summary() reports the same total.
    lines = []
    siamese.summary(print_fn=lambda line, **_: lines.append(line))
    assert any("19" in line and "Total params" in line for line in lines)


def test_sequential_model_counts():
    model = keras.Sequential(
        [keras.Input((3,)), layers.Dense(4, name="a"), layers.Dense(2, name="b")]
    )
    assert block_params(model) == {"a": (16, 0), "b": (10, 0)}
    assert count_params(model) == model.count_params() == 26
