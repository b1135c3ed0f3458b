"""Learner submissions for lesson 02 (same architecture, separate weights) and the grade
nbgrader must give each. See course/corpus.py for how a case becomes a notebook.

Exercises and their test cells:
    ex1_towers       -> test_ex1_towers       (3 points)  three towers, disjoint weights
    ex2_predictions  -> test_ex2_predictions  (2 points)  which candidates share with `encoder`
    ex3_trunk_heads  -> test_ex3_trunk_heads  (3 points)  shared trunk and digit head, own same-head
"""

from course.corpus import Submission, full_marks, no_marks

# ------------------------------------------------------------------ exercise 1: towers

_TOWER = """
def make_tower(name):
    return keras.Sequential(
        [
            keras.Input((32,)),
            layers.Dense(24, activation="relu", name="hidden"),
            layers.Dense(12, activation="relu", name="features"),
        ],
        name=name,
    )
"""

_TOWERS_HEAD = """
joined = layers.Concatenate(name="join")([tower(strip) for tower, strip in zip(towers, strips)])
towers_model = keras.Model(strips, layers.Dense(10, activation="softmax", name="digit")(joined), \
name="three_towers")
"""

# Shares where it must separate: ONE tower object reused on all three strips.
TOWER_REUSED = (
    "keras.backend.clear_session()\n"
    + _TOWER
    + """
strips = [keras.Input((32,), name=f"strip_{i}") for i in (1, 2, 3)]
tower = make_tower("tower_1")
towers = [tower, tower, tower]
"""
    + _TOWERS_HEAD
)

# The block function closes over a layer made outside it: every tower holds the same
# `hidden` Dense, so the towers share its kernel and bias.
TOWER_LAYER_OUTSIDE_FUNCTION = (
    """keras.backend.clear_session()
hidden = layers.Dense(24, activation="relu", name="hidden")


def make_tower(name):
    return keras.Sequential(
        [keras.Input((32,)), hidden, layers.Dense(12, activation="relu", name="features")],
        name=name,
    )


strips = [keras.Input((32,), name=f"strip_{i}") for i in (1, 2, 3)]
towers = [make_tower(f"tower_{i}") for i in (1, 2, 3)]
"""
    + _TOWERS_HEAD
)

# Separate towers of one design, but the wrong design (16 hidden units, not 24).
TOWER_WRONG_SIZE = (
    _TOWER.replace("Dense(24", "Dense(16")
    + """
keras.backend.clear_session()
strips = [keras.Input((32,), name=f"strip_{i}") for i in (1, 2, 3)]
towers = [make_tower(f"tower_{i}") for i in (1, 2, 3)]
"""
    + _TOWERS_HEAD
)

# The model is right (towers written out one by one), but make_tower itself reuses one
# layer: only the hidden test, which calls make_tower again, can see it.
TOWER_FUNCTION_BROKEN_MODEL_RIGHT = (
    """keras.backend.clear_session()
shared_hidden = layers.Dense(24, activation="relu", name="hidden")


def make_tower(name):
    return keras.Sequential(
        [keras.Input((32,)), shared_hidden, layers.Dense(12, activation="relu", name="features")],
        name=name,
    )


def tower_by_hand(name):
    return keras.Sequential(
        [
            keras.Input((32,)),
            layers.Dense(24, activation="relu", name="hidden"),
            layers.Dense(12, activation="relu", name="features"),
        ],
        name=name,
    )


strips = [keras.Input((32,), name=f"strip_{i}") for i in (1, 2, 3)]
towers = [tower_by_hand(f"tower_{i}") for i in (1, 2, 3)]
"""
    + _TOWERS_HEAD
)

# A reused tower, and the visible checks switched off: the hidden test uses pristine().
TOWER_REUSED_CHECKS_PATCHED = (
    TOWER_REUSED
    + """
helpers.assert_calls = lambda *args, **kwargs: None
helpers.assert_separate_copies = lambda *args, **kwargs: None
helpers.assert_param_count = lambda *args, **kwargs: None
helpers.assert_sharing_map = lambda *args, **kwargs: None
"""
)

# --------------------------------------------------------------- exercise 2: predictions


def _predictions(**values: object) -> str:
    right = {
        "rebuilt": False,
        "from_config": False,
        "cloned": False,
        "aliased": True,
        "copied": False,
        "wrapped": True,
    }
    right.update(values)
    return (
        "shares_with_encoder = {\n"
        + "".join(f"    {k!r}: {v!r},\n" for k, v in right.items())
        + "}\n"
    )


# The misconception "cloning gives shared weights".
PREDICT_CLONES_SHARE = _predictions(cloned=True, copied=True)
# "Only the original shares": the two ways of reusing layer objects missed.
PREDICT_NOTHING_SHARES = _predictions(aliased=False, wrapped=False)
PREDICT_STRINGS = _predictions(
    rebuilt="no", from_config="no", cloned="no", aliased="yes", copied="no", wrapped="yes"
)
PREDICT_MISSING_ONE = _predictions().replace("    'wrapped': True,\n", "")

# ---------------------------------------------------------- exercise 3: trunk and heads

_TRUNK = """
def make_trunk(name):
    return keras.Sequential(
        [
            keras.Input((64,)),
            layers.Dense(32, activation="relu", name="hidden"),
            layers.Dense(16, activation="relu", name="features"),
        ],
        name=name,
    )


left = keras.Input((64,), name="left")
right = keras.Input((64,), name="right")
"""

# Separates where it must share: a trunk built for each input.
TRUNK_PER_INPUT = (
    "keras.backend.clear_session()\n"
    + _TRUNK
    + """
left_features = make_trunk("trunk")(left)
right_features = make_trunk("trunk_right")(right)
digit_head = layers.Dense(10, activation="softmax", name="digit_head")
same_head = layers.Dense(1, activation="sigmoid", name="same_head")
both = layers.Concatenate(name="pair")([left_features, right_features])
pair_model = keras.Model([left, right], [digit_head(left_features), digit_head(right_features), \
same_head(both)], name="pair_model")
"""
)

# Separates where it must share: a digit head for each side.
DIGIT_HEAD_PER_SIDE = (
    "keras.backend.clear_session()\n"
    + _TRUNK
    + """
trunk = make_trunk("trunk")
left_features, right_features = trunk(left), trunk(right)
left_digit = layers.Dense(10, activation="softmax", name="digit_head")(left_features)
right_digit = layers.Dense(10, activation="softmax", name="digit_head_right")(right_features)
both = layers.Concatenate(name="pair")([left_features, right_features])
same = layers.Dense(1, activation="sigmoid", name="same_head")(both)
pair_model = keras.Model([left, right], [left_digit, right_digit, same], name="pair_model")
"""
)

# The trunk rebuilt per head: calls look right (each trunk reads both inputs), but the
# same-digit head has a second trunk of its own, doubling the trunk's parameters.
TRUNK_PER_HEAD = (
    "keras.backend.clear_session()\n"
    + _TRUNK
    + """
trunk, same_trunk = make_trunk("trunk"), make_trunk("same_trunk")
digit_head = layers.Dense(10, activation="softmax", name="digit_head")
same_head = layers.Dense(1, activation="sigmoid", name="same_head")
both = layers.Concatenate(name="pair")([same_trunk(left), same_trunk(right)])
pair_model = keras.Model([left, right], [digit_head(trunk(left)), digit_head(trunk(right)), \
same_head(both)], name="pair_model")
"""
)

# ------------------------------------------------- right answers written another way

# Exercise 1 with each tower a subclassed model and the towers joined by keras.ops: the
# checks judge the weights, not the style.
TOWERS_SUBCLASSED_WITH_OPS = """keras.backend.clear_session()


class Tower(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = layers.Dense(24, activation="relu", name="hidden")
        self.features = layers.Dense(12, activation="relu", name="features")

    def call(self, x):
        return self.features(self.hidden(x))


def make_tower(name):
    return Tower(name=name)


strips = [keras.Input((32,), name=f"strip_{i}") for i in (1, 2, 3)]
towers = [make_tower(f"tower_{i}") for i in (1, 2, 3)]
joined = ops.concatenate([tower(strip) for tower, strip in zip(towers, strips)], axis=-1)
towers_model = keras.Model(strips, layers.Dense(10, activation="softmax", name="digit")(joined), \
name="three_towers")
"""

# Exercise 3 with the pair joined by keras.ops.concatenate.
TRUNK_WITH_OPS = (
    "keras.backend.clear_session()\n"
    + _TRUNK
    + """
trunk = make_trunk("trunk")
digit_head = layers.Dense(10, activation="softmax", name="digit_head")
same_head = layers.Dense(1, activation="sigmoid", name="same_head")
left_features, right_features = trunk(left), trunk(right)
both = ops.concatenate([left_features, right_features], axis=-1)
pair_model = keras.Model([left, right], [digit_head(left_features), digit_head(right_features), \
same_head(both)], name="pair_model")
"""
)

CASES = [
    Submission("correct", expected=full_marks()),
    Submission("untouched", base="blank", expected=no_marks()),
    Submission(
        "correct_with_ops",
        answers={"ex1_towers": TOWERS_SUBCLASSED_WITH_OPS, "ex3_trunk_heads": TRUNK_WITH_OPS},
        expected=full_marks(),
    ),
    # Exercise 1
    Submission(
        "ex1-tower-reused",
        answers={"ex1_towers": TOWER_REUSED},
        expected=full_marks(except_={"test_ex1_towers": 0}),
        feedback_contains=[
            "Layer 'tower_1' should be called 1 time",
            "your model calls it 3 times",
            "Call make_tower once per strip",
        ],
    ),
    Submission(
        "ex1-layer-outside-function",
        answers={"ex1_towers": TOWER_LAYER_OUTSIDE_FUNCTION},
        expected=full_marks(except_={"test_ex1_towers": 0}),
        feedback_contains=[
            "Layers 'tower_1' and 'tower_2' should have separate weights",
            "tower_1/hidden/kernel (32, 24)",
        ],
    ),
    Submission(
        "ex1-wrong-size",
        answers={"ex1_towers": TOWER_WRONG_SIZE},
        expected=full_marks(except_={"test_ex1_towers": 0}),
        feedback_contains=[
            "'three_towers' should have 3,646 parameters, but it has 2,566 (-1,080)"
        ],
    ),
    Submission(
        "ex1-function-shares-model-right",
        answers={"ex1_towers": TOWER_FUNCTION_BROKEN_MODEL_RIGHT},
        expected=full_marks(except_={"test_ex1_towers": 0}),
        feedback_contains=[
            "Exercise 1: the visible checks pass.",
            "Layers 'probe_a' and 'probe_b' should have separate weights",
            "make_tower must create its layers inside the function",
        ],
    ),
    Submission(
        "ex1-checks-patched",
        answers={"ex1_towers": TOWER_REUSED_CHECKS_PATCHED},
        # Patching the checks is flagged (course/grading/steps/code_scan.py): every later test waits
        # for the teacher.
        expected=full_marks(
            except_={"test_ex1_towers": 0, "test_ex2_predictions": 0, "test_ex3_trunk_heads": 0}
        ),
        manual_grade=["test_ex1_towers", "test_ex2_predictions", "test_ex3_trunk_heads"],
        integrity_note=["assigns to `helpers.assert_calls` (an attribute of an imported module)"],
        feedback_contains=[
            "Exercise 1: the visible checks pass.",
            "The model 'three_towers' has no layer named 'tower_2'",
        ],
    ),
    # Exercise 2
    Submission(
        "ex2-clones-share",
        answers={"ex2_predictions": PREDICT_CLONES_SHARE},
        expected=full_marks(except_={"test_ex2_predictions": 0}),
        feedback_contains=[
            "2 of 6 predictions are wrong",
            "'cloned' does NOT share weights with 'encoder', but you predicted it does.",
            "'copied' does NOT share weights with 'encoder', but you predicted it does.",
        ],
    ),
    Submission(
        "ex2-nothing-shares",
        answers={"ex2_predictions": PREDICT_NOTHING_SHARES},
        expected=full_marks(except_={"test_ex2_predictions": 0}),
        feedback_contains=[
            "'aliased' does share weights with 'encoder', but you predicted it does not.",
            "'wrapped' does share weights with 'encoder', but you predicted it does not.",
        ],
    ),
    Submission(
        "ex2-strings",
        answers={"ex2_predictions": PREDICT_STRINGS},
        expected=full_marks(except_={"test_ex2_predictions": 0}),
        feedback_contains=["The prediction for 'rebuilt' should be True or False, not 'no'."],
    ),
    Submission(
        "ex2-missing-one",
        answers={"ex2_predictions": PREDICT_MISSING_ONE},
        expected=full_marks(except_={"test_ex2_predictions": 0}),
        feedback_contains=["Give exactly one prediction for each of"],
    ),
    # Exercise 3
    Submission(
        "ex3-trunk-per-input",
        answers={"ex3_trunk_heads": TRUNK_PER_INPUT},
        expected=full_marks(except_={"test_ex3_trunk_heads": 0}),
        feedback_contains=[
            "Layer 'trunk' should be called 2 times",
            "your model calls it 1 time",
            "'trunk_right' of the same kind and shape",
            "Create the trunk once and call that one object on both inputs.",
        ],
    ),
    Submission(
        "ex3-digit-head-per-side",
        answers={"ex3_trunk_heads": DIGIT_HEAD_PER_SIDE},
        expected=full_marks(except_={"test_ex3_trunk_heads": 0}),
        feedback_contains=[
            "Layer 'digit_head' should be called 2 times",
            "'digit_head_right' of the same kind and shape",
        ],
    ),
    Submission(
        "ex3-trunk-per-head",
        answers={"ex3_trunk_heads": TRUNK_PER_HEAD},
        expected=full_marks(except_={"test_ex3_trunk_heads": 0}),
        feedback_contains=["'pair_model' should have 2,811 parameters, but it has 5,419 (+2,608)"],
    ),
]
