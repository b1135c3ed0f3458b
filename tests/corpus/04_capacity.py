"""Learner submissions for lesson 04 (capacity) and the grade each must get.

Each wrong answer changes one solution cell and loses exactly that exercise's points:
ex1 (test_ex1_budget, 2 points), ex2 (test_ex2_predict, 3 points: four counts, the last
one a Dense block called three times), ex3 (test_ex3_ratio, 3 points).
``feedback_contains`` quotes the helper message the learner reads.
"""

from course.corpus import Submission, full_marks, no_marks

# The given lines of each exercise cell (outside the solution region), which an answer
# replaces along with the learner's code.
EX1_START = """\
keras.backend.clear_session()
image = keras.Input((8, 8, 1), name="image")
"""
EX1_END = """\
print(f"budget_model: {helpers.count_params(budget_model):,} parameters")
"""
EX3_START = """\
keras.backend.clear_session()
image = keras.Input((8, 8, 1), name="image")
h = layers.Conv2D(8, 3, padding="same", activation="relu", name="stem")(image)
"""
EX3_END = """\
h = layers.GlobalAveragePooling2D(name="pool")(h)
pyramid = keras.Model(image, layers.Dense(10, activation="softmax", name="head")(h), name="pyramid")
helpers.param_table(pyramid, blocks=block_of)
"""


SHARED_RIGHT = "shared_count = 289\n"  # (16 + 1) x 16 once, + (16 + 1) x 1


def budget_answer(body: str) -> str:
    return EX1_START + body + EX1_END


def pyramid_answer(stages: str) -> str:
    return EX3_START + stages + EX3_END


CASES = [
    Submission("correct", expected=full_marks()),
    Submission("untouched", base="blank", expected=no_marks()),
    # A different correct design: flatten instead of pooling, small widths (5,381 parameters).
    Submission(
        "correct_flatten_design",
        answers={
            "ex1_budget": budget_answer(
                'features = conv_block(image, filters=8, depth=2, name="features")\n'  # 80 + 584
                'flat = layers.Flatten(name="flatten")(features)\n'  # 512 values
                'hidden = dense_block(flat, units=9, name="hidden")\n'  # 4,617
                'budget_model = keras.Model(image, layers.Dense(10, activation="softmax", '
                'name="head")(hidden), '
                'name="budget_model")\n'
            )
        },
        expected=full_marks(),
    ),
    # Another correct pyramid: width instead of depth (8, 16, 16 filters: 584, 1,168, 2,320).
    Submission(
        "correct_pyramid_by_width",
        answers={
            "ex3_ratio": pyramid_answer(
                'h = conv_block(h, filters=8, name="stage1")\n'
                'h = conv_block(h, filters=16, name="stage2")\n'
                'h = conv_block(h, filters=16, name="stage3")\n'
            )
        },
        expected=full_marks(),
    ),
    # ---------------------------------------------------------------- exercise 1
    Submission(
        "over_budget",
        answers={
            "ex1_budget": budget_answer(
                'features = conv_block(image, filters=32, depth=2, name="features")\n'
                'pooled = layers.GlobalAveragePooling2D(name="pool")(features)\n'
                'hidden = dense_block(pooled, units=96, name="hidden")\n'
                'budget_model = keras.Model(image, layers.Dense(10, activation="softmax", '
                'name="head")(hidden), '
                'name="budget_model")\n'
            )
        },
        expected=full_marks(except_={"test_ex1_budget": 0}),
        feedback_contains=[
            "'budget_model' has 13,706 parameters, over the budget of 5,000 to 6,000."
        ],
    ),
    Submission(
        "dense_on_feature_map",
        answers={
            "ex1_budget": budget_answer(
                'features = conv_block(image, filters=16, depth=2, name="features")\n'
                'hidden = dense_block(features, units=96, name="hidden")\n'
                'budget_model = keras.Model(image, layers.Dense(10, activation="softmax", '
                'name="head")(hidden), '
                'name="budget_model")\n'
            )
        },
        expected=full_marks(except_={"test_ex1_budget": 0}),
        feedback_contains=[
            "'budget_model' should output shape (None, 10), but it outputs (None, 8, 8, 10).",
            "Pool or flatten the feature map",
        ],
    ),
    Submission(
        "blocks_not_named_as_asked",  # right size and shape, caught by the hidden tests
        answers={
            "ex1_budget": budget_answer(
                'features = conv_block(image, filters=16, depth=2, name="conv")\n'
                'pooled = layers.GlobalAveragePooling2D(name="pool")(features)\n'
                'hidden = dense_block(pooled, units=96, name="hidden")\n'
                'budget_model = keras.Model(image, layers.Dense(10, activation="softmax", '
                'name="head")(hidden), '
                'name="budget_model")\n'
            )
        },
        expected=full_marks(except_={"test_ex1_budget": 0}),
        feedback_contains=["has no layer named 'features_conv1'"],
    ),
    # ---------------------------------------------------------------- exercise 2
    Submission(
        "wrong_parameter_count",  # forgot the biases of the dense block
        answers={
            "ex2_predict": "dense_count = 64 * 32 + 32 * 32\n"
            "conv_count = (3 * 3 * 3 + 1) * 8 + (3 * 3 * 8 + 1) * 8\n"
            "lstm_count = 4 * (12 * (8 + 12) + 12)\n" + SHARED_RIGHT
        },
        expected=full_marks(except_={"test_ex2_predict": 0}),
        feedback_contains=[
            "dense_count is 3,072: not the parameter count of 'dense_block'.",
            "(inputs + 1) × units",
        ],
    ),
    Submission(
        "conv_count_with_image_size",  # counts one kernel per pixel position
        answers={
            "ex2_predict": "dense_count = 3136\n"
            "conv_count = ((3 * 3 * 3 + 1) * 8 + (3 * 3 * 8 + 1) * 8) * 8 * 8\n"
            "lstm_count = 1008\n" + SHARED_RIGHT
        },
        expected=full_marks(except_={"test_ex2_predict": 0}),
        feedback_contains=[
            "conv_count is 51,712: not the parameter count of 'conv_block'.",
            "(kernel_h × kernel_w × in_channels + 1) × filters",
        ],
    ),
    Submission(
        "prediction_not_a_whole_number",
        answers={
            "ex2_predict": "dense_count = 3136\nconv_count = 808\nlstm_count = 1008.0\n"
            + SHARED_RIGHT
        },
        expected=full_marks(except_={"test_ex2_predict": 0}),
        feedback_contains=["lstm_count should be a whole number such as 1234, not 1008.0 (float)."],
    ),
    Submission(
        "correct_counts_as_plain_numbers",  # the same four answers, worked out on paper
        answers={
            "ex2_predict": "dense_count = 3136\nconv_count = 808\nlstm_count = 1008\n"
            + SHARED_RIGHT
        },
        expected=full_marks(),
    ),
    Submission(
        "shared_block_counted_per_call",  # 3 x 272 + 17: one kernel counted once per call
        answers={
            "ex2_predict": "dense_count = 3136\nconv_count = 808\nlstm_count = 1008\n"
            "shared_count = 3 * (16 + 1) * 16 + (16 + 1) * 1\n"
        },
        expected=full_marks(except_={"test_ex2_predict": 0}),
        feedback_contains=[
            "shared_count is 833: not the parameter count of 'repeated_block'.",
            "'block' is one layer object, called three times.",
        ],
    ),
    Submission(
        "shared_count_missing",  # the first three answered, the new fourth forgotten
        answers={"ex2_predict": "dense_count = 3136\nconv_count = 808\nlstm_count = 1008\n"},
        expected=full_marks(except_={"test_ex2_predict": 0}),
        feedback_contains=["NameError", "shared_count"],
    ),
    # ---------------------------------------------------------------- exercise 3
    Submission(
        "filters_doubling",  # the usual recipe: 584, 1,168, 4,640 parameters = 1 : 2 : 7.9
        answers={
            "ex3_ratio": pyramid_answer(
                'h = conv_block(h, filters=8, name="stage1")\n'
                'h = conv_block(h, filters=16, name="stage2")\n'
                'h = conv_block(h, filters=32, name="stage3")\n'
            )
        },
        expected=full_marks(except_={"test_ex3_ratio": 0}),
        feedback_contains=["but 'stage3' is off", "(wanted ×4)  99% too many", "double its depth"],
    ),
    Submission(
        "depth_doubled_with_more_filters",  # depths 1, 2, 4 but 16 filters: 1,168, 4,640, 9,280
        answers={
            "ex3_ratio": pyramid_answer(
                'h = conv_block(h, filters=16, depth=1, name="stage1")\n'
                'h = conv_block(h, filters=16, depth=2, name="stage2")\n'
                'h = conv_block(h, filters=16, depth=4, name="stage3")\n'
            )
        },
        expected=full_marks(except_={"test_ex3_ratio": 0}),
        feedback_contains=[
            "'stage2', 'stage3' are off",
            "Depths 1, 2, 4 give 1 : 2 : 4 only if all the layers are alike.",
            "stage1's first layer reads the stem's 8 channels",
        ],
    ),
    Submission(
        "ratio_check_switched_off",  # a wrong pyramid hidden behind a disabled visible check
        answers={
            "ex3_ratio": "helpers.assert_capacity_ratio = lambda *args, **kwargs: None\n"
            + pyramid_answer(
                'h = conv_block(h, filters=8, name="stage1")\n'
                'h = conv_block(h, filters=16, name="stage2")\n'
                'h = conv_block(h, filters=32, name="stage3")\n'
            )
        },
        expected=full_marks(except_={"test_ex3_ratio": 0}),
        # patching the check is flagged (course/grading/steps/code_scan.py)
        manual_grade=["test_ex3_ratio"],
        integrity_note=[
            "assigns to `helpers.assert_capacity_ratio` (an attribute of an imported module)"
        ],
        feedback_contains=["but 'stage3' is off"],
    ),
]
