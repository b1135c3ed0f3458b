"""Learner submissions for lesson 06 (sharing in practice) and the points nbgrader must give them.

Exercise 1 (test_ex1_frozen_base, 2 points): one frozen `base` called by `digit_model` and
`odd_model`. Exercise 2 (test_ex2_saved_pair, 2 points): `build_pair()` with one `shared`
layer at the top level, saved and loaded back into `restored`.
"""

from course.corpus import Submission, full_marks, no_marks

EX1 = "ex1_frozen_base"
EX2 = "ex2_saved_pair"
TEST1 = "test_ex1_frozen_base"
TEST2 = "test_ex2_saved_pair"


def frozen_base(bases: str = "one", freeze: bool = True) -> str:
    """An answer to exercise 1; the defaults give the right models."""
    make = (
        "def make_base():\n"
        '    return keras.Sequential([keras.Input((64,)), layers.Dense(24, activation="relu", '
        'name="hidden")], name="base")\n'
    )
    first, second = (
        ("base = make_base()\n", "")
        if bases == "one"
        else ("base = make_base()\n", "base = make_base()\n")
    )
    return (
        "keras.backend.clear_session()\n"
        + make
        + first
        + 'image = keras.Input((64,), name="image")\n'
        'digit_model = keras.Model(image, layers.Dense(10, activation="softmax", '
        'name="digit")(base(image)), name="digit_model")\n'
        + second
        + 'image = keras.Input((64,), name="image")\n'
        'odd_model = keras.Model(image, layers.Dense(1, activation="sigmoid", '
        'name="odd")(base(image)), name="odd_model")\n'
        + ("base.trainable = False\n" if freeze else "")
    )


SAVE_AND_LOAD = """
keras.backend.clear_session()
pair = build_pair()
with tempfile.TemporaryDirectory() as folder:
    pair.save(os.path.join(folder, "pair.keras"))
    restored = keras.saving.load_model(os.path.join(folder, "pair.keras"))
"""

# Two Dense layers where one shared layer was asked for.
TWO_ENCODERS = (
    """
def build_pair():
    a = keras.Input((16,), name="a")
    b = keras.Input((16,), name="b")
    right = layers.Dense(4, name="extra")(layers.Dense(8, activation="relu", name="shared_b")(b))
    left = layers.Dense(8, activation="relu", name="shared")(a)
    return keras.Model([a, b], layers.Concatenate(name="join")([left, right]), name="pair")
"""
    + SAVE_AND_LOAD
)

# The shared layer inside two sub-models: saves, but load_model fails (Keras 3.15), so
# `restored` is still the lesson's section-4 model, which computes something else.
TOWERS = (
    """
def build_pair():
    shared = layers.Dense(8, activation="relu", name="shared")
    x = keras.Input((16,))
    left_tower = keras.Model(x, shared(x), name="left_tower")
    x = keras.Input((16,))
    right_tower = keras.Model(x, layers.Dense(4, name="extra")(shared(x)), name="right_tower")
    a = keras.Input((16,), name="a")
    b = keras.Input((16,), name="b")
    return keras.Model([a, b], layers.Concatenate(name="join")([left_tower(a), right_tower(b)]), \
name="pair")
"""
    + SAVE_AND_LOAD
)

CASES = [
    Submission("correct", expected=full_marks()),
    Submission("untouched", base="blank", expected=no_marks()),
    # Exercise 1
    Submission(
        "ex1-two-bases",
        answers={EX1: frozen_base(bases="two")},
        expected=full_marks(except_={TEST1: 0}),
        feedback_contains=["The two models use different base kernels."],
    ),
    Submission(
        "ex1-base-not-frozen",
        answers={EX1: frozen_base(freeze=False)},
        expected=full_marks(except_={TEST1: 0}),
        feedback_contains=[
            "Freeze the base with base.trainable = False: only the digit head trains."
        ],
    ),
    # Exercise 2
    Submission(
        "ex2-two-encoders",
        answers={EX2: TWO_ENCODERS},
        expected=full_marks(except_={TEST2: 0}),
        feedback_contains=["Layer 'shared' should be called 2 times"],
    ),
    Submission(
        "ex2-shared-inside-sub-models",
        answers={EX2: TOWERS},
        expected=full_marks(except_={TEST2: 0}),
        feedback_contains=["restored should compute what pair computes"],
    ),
]
