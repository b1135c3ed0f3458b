"""Learner submissions for lesson 03 (tying weights) and the points nbgrader must give them.

Exercise 1 (3 points) is the DenseTransposed layer, Exercise 2 (2 points) the tied autoencoder
built with it, Exercise 3 (2 points) the proof that the language model is tied and its copy is
not. Exercise 2 uses the learner's Exercise 1 class, so a DenseTransposed that breaks the tie
loses both; a class that keeps the tie but tracks the encoder loses Exercise 1 only.
"""

from course.corpus import Submission, full_marks, no_marks

EX1 = "ex1_dense_transposed"
EX2 = "ex2_tied_autoencoder"
EX3 = "ex3_prove_tie"
TEST1 = "test_ex1_dense_transposed"
TEST2 = "test_ex2_tied_autoencoder"
TEST3 = "test_ex3_prove_tie"

# ----------------------------------------------------------------------- Exercise 1

TIE_MISSING = '''
class DenseTransposed(layers.Layer):
    """Right shapes, no tie: a kernel of its own, shaped like the encoder's transposed."""

    def __init__(self, tied_to, activation=None, **kwargs):
        super().__init__(**kwargs)
        object.__setattr__(self, "tied_to", tied_to)
        self.activation = keras.activations.get(activation)

    def build(self, input_shape):
        units = self.tied_to.kernel.shape[0]
        self.kernel = self.add_weight(shape=(input_shape[-1], units), \
initializer="glorot_uniform", name="kernel")
        self.bias = self.add_weight(shape=(units,), initializer="zeros", name="bias")

    def call(self, inputs):
        return self.activation(ops.matmul(inputs, self.kernel) + self.bias)
'''

TRACKED_REFERENCE = '''
class DenseTransposed(layers.Layer):
    """Tied, but the encoder is a tracked sub-layer: its kernel and bias count as this layer's."""

    def __init__(self, tied_to, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.tied_to = tied_to
        self.activation = keras.activations.get(activation)

    def build(self, input_shape):
        self.bias = self.add_weight(shape=(self.tied_to.kernel.shape[0],), initializer="zeros", \
name="bias")

    def call(self, inputs):
        return self.activation(ops.matmul(inputs, ops.transpose(self.tied_to.kernel)) + self.bias)
'''

IGNORES_ACTIVATION = '''
class DenseTransposed(layers.Layer):
    """Tied and untracked, but the activation is stored and never applied."""

    def __init__(self, tied_to, activation=None, **kwargs):
        super().__init__(**kwargs)
        object.__setattr__(self, "tied_to", tied_to)
        self.activation = keras.activations.get(activation)

    def build(self, input_shape):
        self.bias = self.add_weight(shape=(self.tied_to.kernel.shape[0],), initializer="zeros", \
name="bias")

    def call(self, inputs):
        return ops.matmul(inputs, ops.transpose(self.tied_to.kernel)) + self.bias
'''

# The untied layer again, with the visible checks switched off: the hidden tests use a
# pristine copy of the helpers, so they still see the missing tie.
PATCHES_CHECKS = (
    TIE_MISSING
    + """
helpers.assert_tied = helpers.assert_owns = helpers.assert_param_count = lambda *args, **kwargs: \
None
"""
)

# ----------------------------------------------------------------------- Exercise 2

UNTIED_DECODER = """
keras.backend.clear_session()
keras.utils.set_random_seed(0)
pixels = keras.Input((64,), name="pixels")
encoder = layers.Dense(16, activation="relu", name="encoder")
decoder = layers.Dense(64, activation="sigmoid", name="decoder")
tied_ae = keras.Model(pixels, decoder(encoder(pixels)), name="tied_autoencoder")
tied_ae.compile(optimizer=keras.optimizers.Adam(learning_rate=0.02), loss="mse")
tied_ae.fit(X, X, epochs=10, batch_size=128, verbose=0)
"""

NOT_TRAINED = """
keras.backend.clear_session()
keras.utils.set_random_seed(0)
pixels = keras.Input((64,), name="pixels")
encoder = layers.Dense(16, activation="relu", name="encoder")
decoder = DenseTransposed(encoder, activation="sigmoid", name="decoder")
tied_ae = keras.Model(pixels, decoder(encoder(pixels)), name="tied_autoencoder")
"""

# ----------------------------------------------------------------------- Exercise 3

COMPARES_VALUES = """
# Equal numbers taken for a tie: lm_copy's output layer holds a copy of the embedding.
tied = bool(np.array_equal(helpers.variables_used_by(lm, "tokens", call=1)[0].numpy(),
                           helpers.variables_used_by(lm, "tokens", call=2)[0].numpy()))
copy_tied = bool(np.allclose(lm_copy.get_layer("tokens").embeddings.numpy(),
                             lm_copy.get_layer("project").kernel.numpy().T))
embeddings = lm.get_layer("tokens").embeddings
parts = helpers.gradients_by_call(lm, embeddings, x_probe, lm_loss)
total = helpers.gradient(lm, embeddings, x_probe, lm_loss)
adds_up = bool(np.allclose(parts["tokens[1]"] + parts["tokens[2]"], total, atol=1e-6))
"""

WRONG_VARIABLE = """
tied = helpers.same_variable(helpers.variables_used_by(lm, "tokens", call=1)[0],
                             helpers.variables_used_by(lm, "tokens", call=2)[0])
copy_tied = helpers.shares_weights(lm_copy, "tokens", "project")
kernel = lm.get_layer("mixer").kernel                      # not the embedding matrix
parts = helpers.gradients_by_call(lm, kernel, x_probe, lm_loss)
total = helpers.gradient(lm, kernel, x_probe, lm_loss)
adds_up = bool(np.allclose(sum(parts.values()), total))
"""

CASES = [
    Submission("correct", expected=full_marks()),
    Submission("untouched", base="blank", expected=no_marks()),
    # Exercise 1
    Submission(
        "ex1_tie_missing",
        answers={EX1: TIE_MISSING},
        expected=full_marks(except_={TEST1: 0, TEST2: 0}),
        feedback_contains=["Layer 'dec' should be tied to 'enc'", "is not a tie"],
    ),
    Submission(
        "ex1_tracked_reference",
        answers={EX1: TRACKED_REFERENCE},
        expected=full_marks(except_={TEST1: 0}),
        feedback_contains=["Layer 'dec' should own exactly ['bias']", "object.__setattr__"],
    ),
    Submission(
        "ex1_ignores_activation",
        answers={EX1: IGNORES_ACTIVATION},
        expected=full_marks(except_={TEST1: 0}),
        feedback_contains=["should apply the sigmoid"],
    ),
    Submission(
        "ex1_patches_checks",
        answers={EX1: PATCHES_CHECKS},
        # Patching the checks is flagged (course/grading/integrity.py): every later test waits
        # for the teacher.
        expected=no_marks(),
        manual_grade=[TEST1, TEST2, "test_ex3_prove_tie"],
        integrity_note=["assigns to `helpers.assert_tied` (an attribute of an imported module)"],
        feedback_contains=["Layer 'dec' should be tied to 'enc'"],
    ),
    # Exercise 2
    Submission(
        "ex2_untied_decoder",
        answers={EX2: UNTIED_DECODER},
        expected=full_marks(except_={TEST2: 0}),
        feedback_contains=["Layer 'decoder' should be tied to 'encoder'"],
    ),
    Submission(
        "ex2_not_trained",
        answers={EX2: NOT_TRAINED},
        expected=full_marks(except_={TEST2: 0}),
        feedback_contains=["after training it should be below 0.03"],
    ),
    # Exercise 3
    Submission(
        "ex3_compares_values",
        answers={EX3: COMPARES_VALUES},
        expected=full_marks(except_={TEST3: 0}),
        feedback_contains=["copy_tied should be False"],
    ),
    Submission(
        "ex3_wrong_variable",
        answers={EX3: WRONG_VARIABLE},
        expected=full_marks(except_={TEST3: 0}),
        feedback_contains=[
            "There should be one gradient part per call that reads tokens/embeddings"
        ],
    ),
]
