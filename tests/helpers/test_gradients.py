"""helpers.gradients: a shared variable's gradient, split by the call that used it.

Ground truth comes from three independent places: finite differences (float64), the same
network rebuilt with an untied copy of the layer (its gradient is one call's share), and
what an SGD step in model.fit actually does to the variable.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers, ops

from helpers.gradients import contributions_add_up, gradient, gradients_by_call


def rng() -> np.random.Generator:
    return np.random.default_rng(7)  # the same data in every test, whatever runs first


def mse_to(y):
    # A tensor, not a NumPy array: on PyTorch, `tensor - array` would convert the tensor.
    target = ops.convert_to_tensor(y, dtype=keras.config.floatx())
    return lambda out: ops.mean((out - target) ** 2)


def siamese_data(n: int = 3):
    r = rng()
    return [r.normal(size=(n, 4)), r.normal(size=(n, 4))], r.normal(size=(n, 1))


def finite_difference(model, variable, inputs, loss, eps=1e-6) -> np.ndarray:
    """Central differences of loss(model(inputs)) with respect to every entry of variable."""
    original = variable.numpy().copy()
    grad = np.zeros_like(original)
    for index in np.ndindex(original.shape):
        values = []
        for step in (eps, -eps):
            bumped = original.copy()
            bumped[index] += step
            variable.assign(bumped)
            values.append(float(loss(model(inputs, training=False))))
        grad[index] = (values[0] - values[1]) / (2 * eps)
    variable.assign(original)
    return grad


@pytest.fixture
def float64():
    if keras.backend.backend() != "tensorflow":
        pytest.skip(
            "JAX and PyTorch run these models in float32 even with floatx float64, too "
            "coarse for finite differences; the untied-copy and fit() checks cover them"
        )
    keras.config.set_floatx("float64")
    try:
        yield
    finally:
        keras.config.set_floatx("float32")


# --- the split adds up -------------------------------------------------------------------------


def test_siamese_calls_add_up_to_the_full_gradient(siamese):
    kernel = siamese.get_layer("encoder").kernel
    x, y = siamese_data()
    parts = gradients_by_call(siamese, kernel, x, mse_to(y))
    assert list(parts) == ["encoder[1]", "encoder[2]"]
    assert all(p.shape == (4, 3) for p in parts.values())
    assert not np.allclose(parts["encoder[1]"], parts["encoder[2]"])  # two different uses
    full = gradient(siamese, kernel, x, mse_to(y))
    np.testing.assert_allclose(
        parts["encoder[1]"] + parts["encoder[2]"], full, rtol=1e-5, atol=1e-7
    )
    assert contributions_add_up(siamese, kernel, x, mse_to(y))


def test_each_part_is_the_gradient_of_an_untied_copy(siamese):
    """Replace the second call by a separate layer with equal values: the gradient of the
    first layer in that untied network is exactly the first call's part."""
    encoder = siamese.get_layer("encoder")
    left, right = keras.Input((4,)), keras.Input((4,))
    copy_b = layers.Dense(3)
    diff = layers.Subtract()([encoder(left), copy_b(right)])
    score = siamese.get_layer("score")
    untied = keras.Model([left, right], score(diff))
    copy_b.set_weights(encoder.get_weights())
    x, y = siamese_data()
    parts = gradients_by_call(siamese, encoder.kernel, x, mse_to(y))
    np.testing.assert_allclose(
        parts["encoder[1]"], gradient(untied, encoder.kernel, x, mse_to(y)), rtol=1e-5, atol=1e-7
    )
    np.testing.assert_allclose(
        parts["encoder[2]"], gradient(untied, copy_b.kernel, x, mse_to(y)), rtol=1e-5, atol=1e-7
    )


def test_siamese_gradient_matches_finite_differences(float64):
    left, right = keras.Input((4,)), keras.Input((4,))
    encoder = layers.Dense(3, activation="tanh", name="encoder")
    model = keras.Model(
        [left, right],
        layers.Dense(1, name="score")(layers.Subtract()([encoder(left), encoder(right)])),
    )
    x, y = siamese_data()
    loss = mse_to(y)
    parts = gradients_by_call(model, encoder.kernel, x, loss)
    assert parts["encoder[1]"].dtype == np.float64
    numeric = finite_difference(model, encoder.kernel, x, loss)
    np.testing.assert_allclose(sum(parts.values()), numeric, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(
        gradient(model, encoder.kernel, x, loss), numeric, rtol=1e-6, atol=1e-9
    )


@pytest.mark.parametrize("fixture", ["tied_autoencoder", "tracked_tied_autoencoder"])
def test_tied_kernel_gets_encoder_plus_decoder(fixture, request):
    model = request.getfixturevalue(fixture)
    kernel = model.get_layer("encoder").kernel
    x = rng().normal(size=(4, 6))
    parts = gradients_by_call(model, kernel, x, mse_to(x))
    assert list(parts) == ["encoder", "decoder"]
    assert np.abs(parts["decoder"]).sum() > 0 and np.abs(parts["encoder"]).sum() > 0
    np.testing.assert_allclose(
        sum(parts.values()), gradient(model, kernel, x, mse_to(x)), rtol=1e-5, atol=1e-7
    )


def test_tied_autoencoder_gradient_matches_finite_differences(float64):
    from known_models import DenseTransposed, autoencoder

    model = autoencoder(DenseTransposed)
    kernel = model.get_layer("encoder").kernel
    x = rng().normal(size=(4, 6))
    parts = gradients_by_call(model, kernel, x, mse_to(x))
    numeric = finite_difference(model, kernel, x, mse_to(x))
    np.testing.assert_allclose(parts["encoder"] + parts["decoder"], numeric, rtol=1e-6, atol=1e-9)


def test_tied_embedding_gradient_is_dense_and_adds_up(tied_lm):
    table = tied_lm.get_layer("embed").embeddings
    tokens = np.array([[1, 2, 3, 1, 2], [3, 4, 5, 4, 1]])
    loss = lambda logits: ops.mean(logits**2)  # noqa: E731
    parts = gradients_by_call(tied_lm, table, tokens, loss)
    assert list(parts) == ["embed[1]", "embed[2]"]
    assert all(
        isinstance(p, np.ndarray) and p.dtype == np.float32 and p.shape == (11, 4)
        for p in parts.values()
    )
    # the lookup only reaches rows of tokens that occur in the batch...
    assert not parts["embed[1]"][[0, 6, 7, 8, 9, 10]].any()
    assert parts["embed[1]"][[1, 2, 3, 4, 5]].any(axis=1).all()
    assert parts["embed[2]"].any()  # ...the output projection reaches every row
    full = gradient(tied_lm, table, tokens, loss)
    assert isinstance(full, np.ndarray) and full.shape == (11, 4)
    np.testing.assert_allclose(sum(parts.values()), full, rtol=1e-5, atol=1e-8)


def test_a_call_that_does_not_reach_the_loss_contributes_zero():
    a, b = keras.Input((4,)), keras.Input((4,))
    encoder = layers.Dense(3, name="encoder")
    model = keras.Model([a, b], [encoder(a), encoder(b)])
    x = siamese_data(2)[0]
    parts = gradients_by_call(model, encoder.kernel, x, lambda outs: ops.sum(outs[0]))
    assert parts["encoder[2]"].dtype == np.float32
    np.testing.assert_array_equal(parts["encoder[2]"], np.zeros((4, 3)))
    np.testing.assert_allclose(
        parts["encoder[1]"], np.tile(x[0].sum(axis=0)[:, None], (1, 3)), rtol=1e-5
    )


# --- what an optimizer step does -----------------------------------------------------------------


def test_one_sgd_step_moves_the_shared_kernel_by_lr_times_the_sum(siamese):
    kernel = siamese.get_layer("encoder").kernel
    x, y = siamese_data(4)
    parts = gradients_by_call(siamese, kernel, x, mse_to(y))
    before = kernel.numpy().copy()
    lr = 0.1
    siamese.compile(optimizer=keras.optimizers.SGD(learning_rate=lr), loss="mse")
    siamese.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    step = kernel.numpy() - before
    np.testing.assert_allclose(
        step, -lr * (parts["encoder[1]"] + parts["encoder[2]"]), rtol=1e-4, atol=1e-7
    )
    # Neither part alone explains the step.
    assert not np.allclose(step, -lr * parts["encoder[1]"], atol=1e-6)
    assert not np.allclose(step, -lr * parts["encoder[2]"], atol=1e-6)


def test_one_sgd_step_on_the_tied_kernel(tied_autoencoder):
    kernel = tied_autoencoder.get_layer("encoder").kernel
    x = rng().normal(size=(4, 6))
    parts = gradients_by_call(tied_autoencoder, kernel, x, mse_to(x))
    before = kernel.numpy().copy()
    optimizer = keras.optimizers.SGD(learning_rate=0.5)
    optimizer.apply(
        [ops.convert_to_tensor(gradient(tied_autoencoder, kernel, x, mse_to(x)))], [kernel]
    )
    np.testing.assert_allclose(
        kernel.numpy() - before, -0.5 * (parts["encoder"] + parts["decoder"]), rtol=1e-5, atol=1e-7
    )


def test_frozen_shared_layer_has_a_gradient_but_fit_does_not_apply_it(frozen_shared):
    kernel = frozen_shared.get_layer("encoder").kernel
    x, y = siamese_data(4)
    parts = gradients_by_call(frozen_shared, kernel, x, mse_to(y))
    assert list(parts) == ["encoder[1]", "encoder[2]"]
    assert contributions_add_up(frozen_shared, kernel, x, mse_to(y))
    before = kernel.numpy().copy()
    frozen_shared.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    frozen_shared.fit(x, y, batch_size=4, epochs=1, verbose=0)
    np.testing.assert_array_equal(kernel.numpy(), before)


# --- errors and the check itself ----------------------------------------------------------------


def test_a_variable_the_model_does_not_read_is_a_value_error(siamese):
    stranger = keras.Variable(np.zeros((4, 3)), name="stranger")
    with pytest.raises(
        ValueError, match=r"No layer call of 'siamese' reads the variable '.*stranger'"
    ):
        gradients_by_call(siamese, stranger, siamese_data()[0], lambda out: ops.sum(out))


def test_a_tracked_variable_no_call_reads_is_a_value_error(unused_weights):
    spare = unused_weights.get_layer("wrap").spare.kernel
    with pytest.raises(
        ValueError, match="No layer call of 'unused_weights' reads the variable 'wrap/spare/kernel'"
    ):
        gradients_by_call(unused_weights, spare, np.ones((1, 3)), lambda out: ops.sum(out))


def test_contributions_add_up_detects_a_missing_part(siamese, monkeypatch):
    """The check can fail: drop one call's contribution and the sum no longer matches."""
    import helpers.gradients as module

    kernel = siamese.get_layer("encoder").kernel
    x, y = siamese_data()
    real = module.gradients_by_call
    monkeypatch.setattr(
        module,
        "gradients_by_call",
        lambda *args, **kwargs: dict(list(real(*args, **kwargs).items())[:1]),
    )
    assert not contributions_add_up(siamese, kernel, x, mse_to(y))
