"""Learner submissions for lesson 03 (tying weights) and the points nbgrader must give them.

Exercise 1 (3 points) is the DenseTransposed layer, Exercise 2 (2 points) the tied autoencoder
built with it, Exercise 3 (2 points) the repair of a frozen copy: `repaired_lm` must read the very
variable `frozen_tokens.embeddings` at every run. Exercise 2 uses the learner's Exercise 1 class, so
a DenseTransposed that breaks the tie loses both; a class that keeps the tie but tracks the
encoder loses Exercise 1 only. Exercise 3 is right in any style that reads the variable at run
time (a layer, `ops.einsum` given the variable itself, a `Lambda`), and wrong for every kind of
copy: the frozen line again, a projection with the values copied in, a new tied layer.
"""

from course.corpus import Submission, full_marks, no_marks

EX1 = "ex1_dense_transposed"
EX2 = "ex2_tied_autoencoder"
EX3 = "ex3_repair_tie"
TEST1 = "test_ex1_dense_transposed"
TEST2 = "test_ex2_tied_autoencoder"
TEST3 = "test_ex3_repair_tie"

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

# Right, another style: an operation given the variable itself keeps it in the graph.
EINSUM = """
ids = keras.Input((LENGTH,), dtype="int32", name="ids")
hidden = frozen_mixer(frozen_tokens(ids))
repaired_lm = keras.Model(ids, ops.einsum("btd,vd->btv", hidden, frozen_tokens.embeddings), \
name="repaired_lm")
"""

# Right, a third style: a Lambda's function runs at every call, so it reads the variable then.
LAMBDA = """
ids = keras.Input((LENGTH,), dtype="int32", name="ids")
scores = layers.Lambda(lambda h: ops.matmul(h, ops.transpose(frozen_tokens.embeddings)), \
name="scores")
repaired_lm = keras.Model(ids, scores(frozen_mixer(frozen_tokens(ids))))
"""

# The trap again, with the same layers: the transpose runs once, when the graph is built.
FROZEN_AGAIN = """
ids = keras.Input((LENGTH,), dtype="int32", name="ids")
hidden = frozen_mixer(frozen_tokens(ids))
repaired_lm = keras.Model(ids, ops.matmul(hidden, ops.transpose(frozen_tokens.embeddings)))
"""

# Equal values in a matrix of its own: 160 parameters more, and apart after one step.
COPIED_VALUES = """
ids = keras.Input((LENGTH,), dtype="int32", name="ids")
project = layers.Dense(VOCAB, use_bias=False, name="project")
repaired_lm = keras.Model(ids, project(frozen_mixer(frozen_tokens(ids))))
project.set_weights([frozen_tokens.embeddings.numpy().T])
"""

# A real tie, but to a new variable: a new TiedEmbedding holding a copy of the trained values.
NEW_TIED_LAYER = """
ids = keras.Input((LENGTH,), dtype="int32", name="ids")
retied = TiedEmbedding(VOCAB, DIM, name="retied")
repaired_lm = keras.Model(ids, retied(frozen_mixer(retied(ids)), reverse=True))
retied.set_weights(frozen_tokens.get_weights())
"""

# A real tie to the right variable, but through a copy of the mixer: caught by the hidden tests.
COPIED_MIXER = """
ids = keras.Input((LENGTH,), dtype="int32", name="ids")
mixer_copy = layers.Dense(DIM, activation="tanh", name="mixer_copy")
hidden = mixer_copy(frozen_tokens(ids))
repaired_lm = keras.Model(ids, ops.einsum("btd,vd->btv", hidden, frozen_tokens.embeddings))
mixer_copy.set_weights(frozen_mixer.get_weights())
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
        # Patching the checks is flagged (course/grading/steps/code_scan.py): every later test waits
        # for the teacher.
        expected=no_marks(),
        manual_grade=[TEST1, TEST2, TEST3],
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
    Submission("ex3_einsum", answers={EX3: EINSUM}, expected=full_marks()),
    Submission("ex3_lambda", answers={EX3: LAMBDA}, expected=full_marks()),
    Submission(
        "ex3_frozen_again",
        answers={EX3: FROZEN_AGAIN},
        expected=full_marks(except_={TEST3: 0}),
        feedback_contains=["did not follow new values of frozen_tokens.embeddings"],
    ),
    Submission(
        "ex3_copied_values",
        answers={EX3: COPIED_VALUES},
        expected=full_marks(except_={TEST3: 0}),
        feedback_contains=["an output layer with a matrix of its own adds 160"],
    ),
    Submission(
        "ex3_new_tied_layer",
        answers={EX3: NEW_TIED_LAYER},
        expected=full_marks(except_={TEST3: 0}),
        feedback_contains=["it multiplies by a copy of the matrix, not by the variable"],
    ),
    Submission(
        "ex3_copied_mixer",
        answers={EX3: COPIED_MIXER},
        expected=full_marks(except_={TEST3: 0}),
        feedback_contains=["repaired_lm should use frozen_lm's own layers"],
    ),
]
