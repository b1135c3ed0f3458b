"""Learner submissions for lesson 06 (sharing in practice) and the points nbgrader must give them.

Exercises and their test cells:
    ex1_predictions -> test_ex1_predictions (2 points)  what trains after odd_model.trainable=False
    ex2_keep_apart  -> test_ex2_keep_apart  (2 points)  a copy of odd_model digit_model cannot move
    ex3_save_load   -> test_ex3_save_load   (3 points)  three models, one base, after loading
"""

from course.corpus import Submission, full_marks, no_marks

EX1, EX2, EX3 = "ex1_predictions", "ex2_keep_apart", "ex3_save_load"
TEST1, TEST2, TEST3 = "test_ex1_predictions", "test_ex2_keep_apart", "test_ex3_save_load"

# ------------------------------------------------------------ exercise 1: predictions


def predictions(digit: int = 250, odd: int = 0, copy: int = 1810) -> str:
    """An answer to exercise 1; the defaults are right."""
    return (
        f'trainable_params = {{"digit_model": {digit}, "odd_model": {odd}, "copy_model": {copy}}}\n'
    )


# Written as the formulas, a right answer in another style.
PREDICT_AS_FORMULAS = """
head = (24 + 1) * 10
trainable_params = dict(digit_model=head, odd_model=0, copy_model=(64 + 1) * 24 + head)
"""
# "Freezing odd_model leaves digit_model alone."
PREDICT_OTHER_MODEL_UNTOUCHED = predictions(digit=1810)
# "A clone shares the base, so it is frozen too."
PREDICT_CLONE_SHARES = predictions(copy=250)
# "model.trainable = False freezes only what the model owns alone": odd keeps its base.
PREDICT_MODEL_FREEZES_ITS_HEAD_ONLY = predictions(digit=1810, odd=1560)

# ---------------------------------------------------------------- exercise 2: keep_apart

# A clone with the values copied in: a right answer in another style.
KEEP_CLONE_SET_WEIGHTS = """
def keep_apart(digit_model, odd_model):
    kept = keras.models.clone_model(odd_model)
    kept.set_weights(odd_model.get_weights())
    kept.name = "kept"
    return kept
"""
# The colleague's freeze: digit_model loses its base.
KEEP_FREEZE_ODD_MODEL = """
def keep_apart(digit_model, odd_model):
    odd_model.trainable = False
    return odd_model
"""
# A new container around the same layers (section 7's recipe): the base is still shared.
KEEP_SHARES_BASE = """
def keep_apart(digit_model, odd_model):
    def keep_base(layer):
        return layer if layer.name == "base" else layer.__class__.from_config(layer.get_config())

    kept = keras.models.clone_model(odd_model, clone_function=keep_base)
    kept.set_weights(odd_model.get_weights())
    return kept
"""
# The architecture without the values.
KEEP_CLONE_ONLY = """
def keep_apart(digit_model, odd_model):
    return keras.models.clone_model(odd_model)
"""

# ------------------------------------------------------------- exercise 3: save and load

# Fix 2: weights saved, the models rebuilt by the code that shares the base.
SAVE_WEIGHTS_REBUILD = """
def save_models(models, folder):
    for task, model in models.items():
        model.save_weights(os.path.join(folder, f"{task}.weights.h5"))


def load_models(folder):
    models = build_three()
    for task, model in models.items():
        model.load_weights(os.path.join(folder, f"{task}.weights.h5"))
    return models
"""
# The colleague's code, unchanged: a base per file.
SAVE_APART = """
def save_models(models, folder):
    save_apart(models, folder)


def load_models(folder):
    return load_apart(folder)
"""
# The three models wrapped in one model: saves, but does not load.
SAVE_WRAPPER = """
def save_models(models, folder):
    image = keras.Input((64,), name="image")
    wrapper = keras.Model(image, [models[task](image) for task in ("digit", "odd", "big")], \
name="wrapper")
    wrapper.save(os.path.join(folder, "wrapper.keras"))


def load_models(folder):
    wrapper = keras.saving.load_model(os.path.join(folder, "wrapper.keras"))
    return {task: wrapper.get_layer(f"{task}_model") for task in ("digit", "odd", "big")}
"""
# One base, rebuilt in code, but the saved values never loaded.
REBUILD_WITHOUT_WEIGHTS = """
def save_models(models, folder):
    for task, model in models.items():
        model.save_weights(os.path.join(folder, f"{task}.weights.h5"))


def load_models(folder):
    return build_three()
"""

CASES = [
    Submission("correct", expected=full_marks()),
    Submission(
        "untouched", base="blank", expected=no_marks(), feedback_contains=["NotImplementedError"]
    ),
    Submission(
        "correct_other_styles",
        answers={EX1: PREDICT_AS_FORMULAS, EX2: KEEP_CLONE_SET_WEIGHTS, EX3: SAVE_WEIGHTS_REBUILD},
        expected=full_marks(),
    ),
    # Exercise 1
    Submission(
        "ex1-other-model-untouched",
        answers={EX1: PREDICT_OTHER_MODEL_UNTOUCHED},
        expected=full_marks(except_={TEST1: 0}),
        feedback_contains=[
            "1 of 3 predictions is wrong",
            "digit_model can train 250 parameters, not 1,810.",
            "A model's trainable switch reaches every layer inside it, shared ones included",
        ],
    ),
    Submission(
        "ex1-clone-shares",
        answers={EX1: PREDICT_CLONE_SHARES},
        expected=full_marks(except_={TEST1: 0}),
        feedback_contains=["copy_model can train 1,810 parameters, not 250."],
    ),
    Submission(
        "ex1-model-freezes-its-head-only",
        answers={EX1: PREDICT_MODEL_FREEZES_ITS_HEAD_ONLY},
        expected=full_marks(except_={TEST1: 0}),
        feedback_contains=[
            "2 of 3 predictions are wrong",
            "odd_model can train 0 parameters, not 1,560.",
        ],
    ),
    Submission(
        "ex1-strings",
        answers={EX1: predictions().replace("250", '"250"')},
        expected=full_marks(except_={TEST1: 0}),
        feedback_contains=["The prediction for 'digit_model' should be a whole number, not '250'."],
    ),
    # Exercise 2
    Submission(
        "ex2-freezes-odd-model",
        answers={EX2: KEEP_FREEZE_ODD_MODEL},
        expected=full_marks(except_={TEST2: 0}),
        feedback_contains=[
            "'digit_model' should have 1,810 trainable parameters, but it has 250 (-1,560).",
            "keep_apart must not freeze what digit_model trains",
        ],
    ),
    Submission(
        "ex2-shares-base",
        answers={EX2: KEEP_SHARES_BASE},
        expected=full_marks(except_={TEST2: 0}),
        feedback_contains=[
            "'odd_model' and 'digit_model' should share no variable, but 2 are one variable in "
            "both: base/hidden/kernel (64, 24), base/hidden/bias (24,).",
        ],
    ),
    Submission(
        "ex2-clone-without-values",
        answers={EX2: KEEP_CLONE_ONLY},
        expected=full_marks(except_={TEST2: 0}),
        feedback_contains=["kept should compute what odd_model computes now"],
    ),
    # Exercise 3
    Submission(
        "ex3-saved-apart",
        answers={EX3: SAVE_APART},
        expected=full_marks(except_={TEST3: 0}),
        feedback_contains=[
            "The 3 models should share one 'base', but they hold 3 different ones",
            "'digit_model': its own 'base' of 1,560 parameters",
            "Each file of a model holds its own copy of the base.",
        ],
    ),
    Submission(
        "ex3-wrapper",
        answers={EX3: SAVE_WRAPPER},
        expected=full_marks(except_={TEST3: 0}),
        feedback_contains=["expected 2 variables, but received 0 variables during loading"],
    ),
    Submission(
        "ex3-rebuilt-without-weights",
        answers={EX3: REBUILD_WITHOUT_WEIGHTS},
        expected=full_marks(except_={TEST3: 0}),
        feedback_contains=["The loaded 'digit' model should compute what the saved one computed"],
    ),
]
