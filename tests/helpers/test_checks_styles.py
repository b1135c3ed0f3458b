"""Every check judges the model, not the style it is written in: a right model written as a
subclassed model, with operations in its graph, or with a wrapper layer passes; a wrong
one fails with a CheckFailed that names the layers (never a traceback from the helpers).
(assert_gradient_split on these styles: the last test.)"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from architectures import graph_with_ops, subclassed_siamese, wrapper_in_sequential
from keras import layers, ops
from known_models import DenseTransposed, DenseTransposedTracked

import helpers
from helpers import CheckFailed

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


class TwoEncoders(keras.Model):
    """Subclassed, two encoders of one design: separate weights."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.enc_a = layers.Dense(4, name="enc_a")
        self.enc_b = layers.Dense(4, name="enc_b")
        self.head = layers.Dense(1, name="head")

    def call(self, inputs):
        a, b = inputs
        return self.head(ops.concatenate([self.enc_a(a), self.enc_b(b)], axis=-1))


class Autoencoder(keras.Model):
    """Subclassed autoencoder whose decoder is a layer of its own (tied or not)."""

    def __init__(self, decoder_class, **kwargs):
        super().__init__(**kwargs)
        self.encoder = layers.Dense(3, name="encoder")
        self.decoder = (
            decoder_class(self.encoder, name="decoder")
            if decoder_class
            else layers.Dense(6, name="decoder")
        )

    def call(self, x):
        return self.decoder(self.encoder(x))


class Stages(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.stage1 = layers.Dense(4, name="stage1")  # (4 + 1) x 4 = 20
        self.stage2_a = layers.Dense(4, name="stage2_a")  # 20
        self.stage2_b = layers.Dense(4, name="stage2_b")  # 20

    def call(self, x):
        return self.stage2_b(self.stage2_a(self.stage1(x)))


def built(model, *inputs):
    model(list(inputs) if len(inputs) > 1 else inputs[0])
    return model


def two_encoders():
    return built(TwoEncoders(name="two_encoders"), np.zeros((2, 6)), np.zeros((2, 6)))


def fails(check, *args, **kwargs) -> str:
    with pytest.raises(CheckFailed) as info:
        check(*args, **kwargs)
    return str(info.value)


def test_assert_calls():
    model = subclassed_siamese()
    helpers.assert_calls(model, "enc", 2)
    assert "'head' should be called 2 times" in fails(helpers.assert_calls, model, "head", 2)


def test_assert_call_counts_steps_over_operations():
    model = graph_with_ops()
    helpers.assert_call_counts(model, {"enc": 2, "embed": 1, "pool": 1, "head": 1})
    text = fails(helpers.assert_call_counts, model, {"enc": 1, "embed": 1, "pool": 1, "head": 1})
    # The message names the layer to recount, not the answer (issue 12: no answers in checks).
    assert "'enc': 1 is not its number of calls. Recount" in text
    assert "'embed'" not in text and "2" not in text.split("'enc': 1")[1]


def test_assert_variable_count_with_reuse_inside_a_layer():
    model = wrapper_in_sequential()
    helpers.assert_variable_count(model, 4)
    text = fails(helpers.assert_variable_count, model, 6)
    assert (
        "You counted each variable once per call. 'twice' calls a layer inside it more than once"
        in text
    )


def test_assert_shared_and_not_shared():
    siamese, separate = subclassed_siamese(), two_encoders()
    helpers.assert_shared(siamese, "enc", "enc")
    helpers.assert_shared(wrapper_in_sequential(), "twice", "twice")
    helpers.assert_not_shared(separate, "enc_a", "enc_b")
    assert "'enc_a' and 'enc_b' should share weights" in fails(
        helpers.assert_shared, separate, "enc_a", "enc_b"
    )
    assert "one layer object called 2 times" in fails(
        helpers.assert_not_shared, siamese, "enc", "enc"
    )


def test_assert_separate_copies():
    helpers.assert_separate_copies(two_encoders(), "enc_a", "enc_b")
    text = fails(helpers.assert_separate_copies, subclassed_siamese(), "enc", "head")
    assert "'enc' and 'head' should be copies of one architecture" in text


def test_assert_tied_and_owns():
    tied = built(Autoencoder(DenseTransposed, name="tied"), np.zeros((2, 6)))
    helpers.assert_tied(tied, "decoder", "encoder")
    helpers.assert_owns(tied.decoder, ["bias"])
    untied = built(Autoencoder(None, name="untied"), np.zeros((2, 6)))
    assert "'decoder' should be tied to 'encoder'" in fails(
        helpers.assert_tied, untied, "decoder", "encoder"
    )
    tracked = built(Autoencoder(DenseTransposedTracked, name="tracked"), np.zeros((2, 6)))
    assert "keeps that layer in a normal attribute" in fails(
        helpers.assert_owns, tracked.decoder, ["bias"]
    )


def test_assert_sharing_map():
    helpers.assert_sharing_map(graph_with_ops(), calls={"enc": 2, "head": 1})
    text = fails(helpers.assert_sharing_map, two_encoders(), calls={"enc_a": 2, "head": 1})
    assert "'enc_a' should be called 2 times, but it is called 1 time" in text


def test_assert_param_count_budget_and_prediction():
    model = subclassed_siamese()  # enc: (6 + 1) x 4 = 28, head: (4 + 1) x 1 = 5
    helpers.assert_param_count(model, 33)
    helpers.assert_param_budget(model, 40)
    helpers.assert_predicted_count(33, model)
    text = fails(helpers.assert_param_count, model, 61)
    assert "should have 61 parameters, but it has 33" in text and "shared with" in text
    assert "over the budget" in fails(helpers.assert_param_budget, model, 20)
    text = fails(helpers.assert_predicted_count, 61, model, reveal=True)
    assert "'enc', Dense(units=4): (6 + 1) × 4 = 28" in text


def test_assert_output_shape():
    helpers.assert_output_shape(subclassed_siamese(), (None, 1))
    text = fails(helpers.assert_output_shape, subclassed_siamese(), (None, 2))
    assert "should output shape (None, 2), but it outputs (None, 1)" in text


def test_assert_sharing_predictions():
    model = subclassed_siamese()
    helpers.assert_sharing_predictions(model, "enc", {"head": False})
    text = fails(helpers.assert_sharing_predictions, model, "enc", {"head": True})
    assert "'head' does NOT share weights with 'enc'" in text


def test_assert_capacity_ratio():
    model = built(Stages(name="stages"), np.zeros((2, 4)))
    helpers.assert_capacity_ratio(model, {"stage1": 1, "stage2": 2})
    assert "'stage2' is off" in fails(
        helpers.assert_capacity_ratio, model, {"stage1": 1, "stage2": 4}
    )


def test_assert_io_names():
    helpers.assert_io_names(graph_with_ops(), inputs=["a", "b", "words"], outputs=["head"])
    assert "is a subclassed model" in fails(
        helpers.assert_io_names, subclassed_siamese(), inputs=["a", "b"]
    )


def test_assert_accuracy_on_a_subclassed_model():
    class Sign(keras.Model):
        def __init__(self):
            super().__init__(name="sign")
            self.score = layers.Dense(1, activation="sigmoid", name="score")

        def call(self, x):
            return self.score(x)

    model = built(Sign(), np.zeros((1, 2)))
    model.set_weights([np.array([[10.0], [0.0]]), np.array([0.0])])
    data, truth = (
        np.array([[1.0, 0.0], [-1.0, 0.0], [2.0, 0.0], [-3.0, 0.0]]),
        np.array([1, 0, 1, 1]),
    )
    helpers.assert_accuracy(model, data, truth, at_least=0.75)
    assert "is right on 75.0%" in fails(helpers.assert_accuracy, model, data, truth, at_least=0.9)


def test_pristine_checks_read_subclassed_models_too():
    from helpers.grading import pristine

    grader = pristine()
    grader.assert_calls(subclassed_siamese(), "enc", 2)
    with pytest.raises(AssertionError, match="'enc_a' and 'enc_b' should share weights"):
        grader.assert_shared(two_encoders(), "enc_a", "enc_b")


@pytest.mark.parametrize(
    "build, inputs",
    [
        (
            subclassed_siamese,
            lambda rng: [rng.random((2, 6), dtype="float32"), rng.random((2, 6), dtype="float32")],
        ),
        (
            graph_with_ops,
            lambda rng: [
                rng.random((2, 6), dtype="float32"),
                rng.random((2, 6), dtype="float32"),
                np.array([[1, 2, 0], [3, 0, 0]], dtype="int32"),
            ],
        ),
    ],
)
def test_assert_gradient_split_on_a_subclassed_model_and_a_graph_with_operations(build, inputs):
    model = build()
    x = inputs(np.random.default_rng(0))
    kernel = next(
        u.variable
        for u in helpers.variable_uses(model)
        if u.is_shared and u.path.endswith("kernel")
    )
    loss = lambda out: ops.sum(out * out)  # noqa: E731
    parts = helpers.gradients_by_call(model, kernel, x, loss)
    assert sorted(parts) == ["enc[1]", "enc[2]"]
    assert helpers.contributions_add_up(model, kernel, x, loss)
    helpers.assert_gradient_split(
        model, kernel, x, loss, parts, helpers.gradient(model, kernel, x, loss)
    )
    swapped = {"enc[1]": parts["enc[2]"], "enc[2]": parts["enc[1]"]}
    with pytest.raises(CheckFailed, match="Your gradient part for 'enc\\[1\\]' is off"):
        helpers.assert_gradient_split(model, kernel, x, loss, swapped)
