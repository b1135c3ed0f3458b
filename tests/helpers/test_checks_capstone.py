"""The checks the capstone needs: accuracy floors measured by the check itself, input and
output names, and a sharing map that leaves a tied layer to its own check."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

from helpers import (
    CheckFailed,
    accuracy,
    assert_accuracy,
    assert_io_names,
    assert_sharing_map,
    sharing_groups,
)


class DenseTransposed(layers.Layer):
    """Tied to a Dense layer: uses its kernel, transposed (untracked), and a bias of its own."""

    def __init__(self, tied_to: layers.Dense, **kwargs):
        super().__init__(**kwargs)
        object.__setattr__(self, "tied_to", tied_to)

    def build(self, input_shape):
        self.bias = self.add_weight(
            shape=(self.tied_to.kernel.shape[0],), initializer="zeros", name="bias"
        )

    def call(self, x):
        return keras.ops.matmul(x, keras.ops.transpose(self.tied_to.kernel)) + self.bias


@pytest.fixture
def two_outputs() -> keras.Model:
    """Known answers: 'positive' is x[0] > 0 (a sigmoid), 'biggest' is the argmax of x."""
    x = keras.Input((3,), name="x")
    positive = layers.Dense(1, activation="sigmoid", name="positive")
    biggest = layers.Dense(3, activation="softmax", name="biggest")
    model = keras.Model(x, [positive(x), biggest(x)], name="known")
    positive.set_weights([np.array([[10.0], [0.0], [0.0]]), np.zeros(1)])
    biggest.set_weights([np.eye(3) * 10.0, np.zeros(3)])
    return model


# Four examples: 'positive' gets 3 of 4 right (the last target is wrong on purpose),
# 'biggest' gets 2 of 4 right.
X = np.array(
    [[1.0, 0.0, 0.0], [-1.0, 2.0, 0.0], [2.0, 0.0, 5.0], [-3.0, 1.0, 0.0]], dtype="float32"
)
Y = {"positive": np.array([1, 0, 1, 1]), "biggest": np.array([0, 1, 0, 0])}


def test_accuracy_is_measured_per_output(two_outputs):
    assert accuracy(two_outputs, X, Y) == {"positive": 0.75, "biggest": 0.5}


def test_accuracy_reads_one_hot_targets_and_small_batches(two_outputs):
    from helpers.evaluation import predict_outputs

    one_hot = {"biggest": np.eye(3)[Y["biggest"]]}
    assert accuracy(two_outputs, X, one_hot) == {"biggest": 0.5}
    whole, batched = predict_outputs(two_outputs, X), predict_outputs(two_outputs, X, batch_size=3)
    assert all(np.allclose(whole[name], batched[name]) for name in whole)


def test_assert_accuracy_passes_at_the_floor(two_outputs):
    assert_accuracy(two_outputs, X, Y, at_least={"positive": 0.75, "biggest": 0.5})


def test_assert_accuracy_names_each_output_below_its_floor(two_outputs):
    with pytest.raises(CheckFailed) as failure:
        assert_accuracy(two_outputs, X, Y, at_least=0.7, hint="Train longer.")
    message = str(failure.value)
    assert "'biggest' is right on 50.0%" in message
    assert "at least 70.0%" in message
    assert "most common value scores 75.0%" in message  # class 0 is 3 of the 4 targets
    assert "'positive'" not in message  # 75% clears the 70% floor
    assert message.endswith("Hint: Train longer.")


def test_assert_accuracy_uses_the_data_it_is_given_not_a_reported_number(two_outputs):
    flipped = {"positive": 1 - Y["positive"]}
    with pytest.raises(CheckFailed, match="'positive' is right on 25.0%"):
        assert_accuracy(two_outputs, X, flipped, at_least=0.5)


def test_assert_accuracy_explains_a_missing_output_name(two_outputs):
    with pytest.raises(CheckFailed) as failure:
        assert_accuracy(two_outputs, X, {"larger": Y["positive"]}, at_least=0.5)
    assert "no output named 'larger'" in str(failure.value)
    assert "['positive', 'biggest']" in str(failure.value)


def test_assert_accuracy_with_dict_inputs_and_one_output():
    a, b = keras.Input((1,), name="a"), keras.Input((1,), name="b")
    out = layers.Dense(1, activation="sigmoid", name="a_bigger")(
        layers.Subtract(name="diff")([a, b])
    )
    model = keras.Model([a, b], out)
    model.get_layer("a_bigger").set_weights([np.array([[10.0]]), np.zeros(1)])
    data = {"a": np.array([[1.0], [0.0]]), "b": np.array([[0.0], [1.0]])}
    assert_accuracy(model, data, np.array([1.0, 0.0]), at_least=1.0)
    with pytest.raises(CheckFailed, match="right on 0.0%"):
        assert_accuracy(model, data, np.array([0.0, 1.0]), at_least=0.5)


def test_assert_io_names(two_outputs):
    assert_io_names(two_outputs, inputs=["x"], outputs=["positive", "biggest"])
    with pytest.raises(CheckFailed, match=r"outputs should be named \['biggest', 'positive'\]"):
        assert_io_names(two_outputs, outputs=["biggest", "positive"])  # order matters
    with pytest.raises(CheckFailed, match=r"inputs should be named \['image'\].*are \['x'\]"):
        assert_io_names(two_outputs, inputs=["image"])


@pytest.fixture
def shared_and_tied() -> keras.Model:
    """An encoder called on two inputs, and a decoder tied to the encoder's kernel."""
    a, b = keras.Input((6,), name="a"), keras.Input((6,), name="b")
    encoder = layers.Dense(3, activation="relu", name="encoder")
    other = layers.Dense(3, name="other")
    decoder = DenseTransposed(encoder, name="decoder")
    code_a = encoder(a)
    joined = layers.Concatenate(name="join")([code_a, encoder(b), other(a)])
    return keras.Model([a, b], [joined, decoder(code_a)], name="shared_and_tied")


def test_sharing_groups_can_leave_a_tied_layer_out(shared_and_tied):
    assert sharing_groups(shared_and_tied) == [["encoder", "decoder"], ["other"]]
    assert sharing_groups(shared_and_tied, ignore=["decoder"]) == [["encoder"], ["other"]]


def test_sharing_map_with_ignore_checks_everything_but_the_tie(shared_and_tied):
    calls = {"encoder": 2, "other": 1, "decoder": 1}
    with pytest.raises(
        CheckFailed, match=r"\['decoder', 'encoder'\] share variables, but they should not"
    ):
        assert_sharing_map(shared_and_tied, calls=calls)
    assert_sharing_map(shared_and_tied, calls=calls, ignore=["decoder"])
    with pytest.raises(
        CheckFailed, match="'encoder' should be called 1 time, but it is called 2 times"
    ):
        assert_sharing_map(shared_and_tied, calls={"encoder": 1}, ignore=["decoder"])


def test_sharing_map_ignore_still_catches_other_sharing():
    # Tie 'other' to the encoder too: ignoring the decoder must not hide that.
    a = keras.Input((6,), name="a")
    encoder = layers.Dense(3, name="encoder")
    tied_twice = keras.Model(
        a,
        [
            DenseTransposed(encoder, name="decoder")(encoder(a)),
            DenseTransposed(encoder, name="mirror")(encoder(a)),
        ],
    )
    with pytest.raises(CheckFailed, match=r"\['encoder', 'mirror'\] share variables"):
        assert_sharing_map(tied_twice, calls={"encoder": 2}, ignore=["decoder"])


def test_sharing_map_ignore_names_must_exist(shared_and_tied):
    with pytest.raises(CheckFailed, match="no layer named 'decodr'"):
        assert_sharing_map(shared_and_tied, ignore=["decodr"])
