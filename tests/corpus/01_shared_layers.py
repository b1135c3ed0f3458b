"""Learner submissions for 01_shared_layers (format: course/corpus.py).

The first cases get an exercise wrong; the ones after "A real classroom" are broken, slow,
tampered or hostile notebooks, each graded with exact points and a message. Points: test
cells test_ex1_shared_model 3, test_ex2_separate_model 3, test_ex3_prediction 2.
"""

from course.corpus import Submission, cell, delete_cell, edit_cell, full_marks, no_marks

# Exercise 1 done with two encoders: right shape, but nothing is shared.
TWO_ENCODERS = '''keras.backend.clear_session()
a = keras.Input((64,), name="a")
b = keras.Input((64,), name="b")
shared_encoder = layers.Dense(32, activation="relu", name="shared_encoder")
other_encoder = layers.Dense(32, activation="relu", name="other_encoder")
pair = layers.Concatenate(name="pair")([shared_encoder(a), other_encoder(b)])
shared_model = keras.Model([a, b], layers.Dense(1, activation="sigmoid", name="head")(pair))
'''

# Exercise 2 done with one encoder called twice: the very thing exercise 2 must avoid.
ONE_ENCODER = '''keras.backend.clear_session()
a = keras.Input((64,), name="a")
b = keras.Input((64,), name="b")
encoder_a = layers.Dense(32, activation="relu", name="encoder_a")
encoder_b = encoder_a
pair = layers.Concatenate(name="pair")([encoder_a(a), encoder_b(b)])
separate_model = keras.Model([a, b], layers.Dense(1, activation="sigmoid", name="head")(pair))
'''



def import_first(module: str, grade_id: str):
    """A transform: the (right) answer in ``grade_id`` starts by importing ``module``."""

    def transform(nb):
        answer = cell(nb, grade_id)
        answer.source = f"import {module}\n" + answer.source

    return transform


# The prediction of exercise 3, right (the shared kernel counted once).
RIGHT_PREDICTION = "predicted_params = (3 * 3 * 1 + 1) * 8 + (8 + 8 + 1) * 1\n"

# Makes every visible check pass, then builds the wrong model: the hidden tests use a
# fresh copy of the helpers (helpers.grading.pristine) and catch it.
CHECKS_SWITCHED_OFF = (
    "for _name in ('assert_output_shape', 'assert_separate_copies', 'assert_calls'):\n"
    "    setattr(helpers, _name, lambda *args, **kwargs: print('check passed (patched)'))\n"
) + ONE_ENCODER

# A loop that never ends: the learner forgot to move the counter.
ENDLESS = """count = 0
while count < 97:
    pass  # forgot: count += 1
predicted_params = count
"""

# Asks for 100 GiB, one MiB at a time, before answering.
MEMORY_BOMB = "hog = [bytearray(2**20) for _ in range(100 * 1024)]\n" + RIGHT_PREDICTION

# Finds the course through the installed helpers package and the grader's working folder
# (/proc), then tries to read the answers, write into the course and stop the grader.
BREAKS_OUT = RIGHT_PREDICTION + """import os, pathlib, signal
course = pathlib.Path(helpers.__file__).resolve().parents[1]
def attempt(label, action):
    try:
        action()
        print(label + ": it worked")
    except Exception as error:
        print(label + ": " + type(error).__name__)
attempt("read the solutions", lambda: (course / "solutions" / "01_shared_layers" / "01_shared_layers.ipynb").read_text())
attempt("find the grader's folder", lambda: os.readlink(f"/proc/{os.getppid()}/cwd"))
attempt("write into the course", lambda: (course / "breaks-out-was-here.txt").write_text("x"))
attempt("stop the grader", lambda: os.kill(os.getppid(), signal.SIGTERM))
"""

CASES = [
    Submission("correct", expected=full_marks()),
    Submission("untouched", base="blank", expected=no_marks(), feedback_contains=["NotImplementedError"]),
    Submission(
        "two_encoders",
        answers={"ex1_shared_model": TWO_ENCODERS},
        expected=full_marks(except_={"test_ex1_shared_model": 0}),
        feedback_contains=["Layer 'shared_encoder' should be called 2 times"],
    ),
    Submission(
        "one_encoder_twice",
        answers={"ex2_separate_model": ONE_ENCODER},
        expected=full_marks(except_={"test_ex2_separate_model": 0}),
        feedback_contains=["has no layer named 'encoder_b'", "'encoder_a' is called 2 times"],
    ),
    Submission(
        "counts_conv_twice",
        answers={"ex3_prediction": "predicted_params = 2 * (3 * 3 * 1 + 1) * 8 + (8 + 8 + 1) * 1"},
        expected=full_marks(except_={"test_ex3_prediction": 0}),
        # The visible check says which rule to recount with, not the answer.
        feedback_contains=["predicted_params is 177: not the parameter count of 'mystery'.",
                           "Count each layer with its rule", "'conv', Conv2D(filters=8"],
    ),
    Submission(
        "ex3-check-switched-off",  # the hidden test judges the number, and then shows it
        answers={"ex3_prediction": "helpers.assert_predicted_count = lambda *args, **kwargs: None\n"
                                   "predicted_params = 2 * (3 * 3 * 1 + 1) * 8 + (8 + 8 + 1) * 1"},
        expected=full_marks(except_={"test_ex3_prediction": 0}),
        feedback_contains=["Your prediction is right.",
                           "predicted_params is 177, but 'mystery' has 97 parameters", "its kernel is counted once"],
    ),
    # A real classroom -----------------------------------------------------------------
    Submission(
        "cell_raises",
        answers={"ex2_separate_model": "raise RuntimeError('I will finish this tomorrow')"},
        expected=full_marks(except_={"test_ex2_separate_model": 0}),
        feedback_contains=["I will finish this tomorrow", "name 'separate_model' is not defined"],
    ),
    Submission(
        "imports_missing_module",  # a right answer, but the cell stops at its first line
        transform=import_first("keras_contrib", "ex1_shared_model"),
        expected=full_marks(except_={"test_ex1_shared_model": 0}),
        feedback_contains=["No module named 'keras_contrib'", "name 'shared_model' is not defined"],
    ),
    Submission(
        "infinite_loop",
        answers={"ex3_prediction": ENDLESS},
        expected=full_marks(except_={"test_ex3_prediction": 0}),
        feedback_contains=["this cell ran longer than the time allowed per cell"],
        note_contains=["(`ex3_prediction`) ran longer than the time limit for one cell"],
    ),
    # The test cell is put back from the gradebook (OverwriteCells.add_missing_cells).
    Submission(
        "deletes_test_cell",
        answers={"ex2_separate_model": ONE_ENCODER},
        transform=delete_cell("test_ex2_separate_model"),
        expected=full_marks(except_={"test_ex2_separate_model": 0}),
        feedback_contains=["has no layer named 'encoder_b'"],
        note_contains=["`test_ex2_separate_model` were missing from your notebook; the grader added them back"],
    ),
    Submission(
        "deletes_answer_cell",
        transform=delete_cell("ex3_prediction"),
        expected=full_marks(except_={"test_ex3_prediction": 0}),
        feedback_contains=["name 'predicted_params' is not defined"],
    ),
    # Emptying a read-only test cell: it is restored from the source and graded as written.
    Submission(
        "edits_test_cell",
        answers={"ex1_shared_model": TWO_ENCODERS},
        transform=edit_cell("test_ex1_shared_model", "print('all good, trust me')"),
        expected=full_marks(except_={"test_ex1_shared_model": 0}),
        feedback_contains=["Layer 'shared_encoder' should be called 2 times"],
        note_contains=["You edited read-only cell(s) `test_ex1_shared_model`; the original was put back"],
    ),
    Submission(
        "patches_checks",
        answers={"ex2_separate_model": CHECKS_SWITCHED_OFF},
        expected=full_marks(except_={"test_ex2_separate_model": 0}),
        feedback_contains=["check passed (patched)", "has no layer named 'encoder_b'"],
    ),
    Submission(
        "not_json",
        transform=lambda nb: b'{"cells": [{"cell_type": "code", "source": "shared_model = ',
        expected=no_marks(),
        grading_fails=True,
        note_contains=["is not a notebook: its content is not valid JSON"],
    ),
    # Only `course grade` grades these: a memory limit, a sandbox (plain nbgrader has neither).
    Submission(
        "memory_bomb",
        answers={"ex3_prediction": MEMORY_BOMB},
        expected=full_marks(except_={"test_ex3_prediction": 0}),
        feedback_contains=["MemoryError"],
        note_contains=["(`ex3_prediction`) ran out of memory (the grading limit is"],
        course_grade_only=True,
    ),
    Submission(
        "breaks_out",
        answers={"ex3_prediction": BREAKS_OUT},
        expected=full_marks(),
        feedback_contains=["read the solutions: PermissionError", "find the grader's folder: PermissionError",
                           "write into the course: PermissionError", "stop the grader: PermissionError"],
        course_grade_only=True,
    ),
]
