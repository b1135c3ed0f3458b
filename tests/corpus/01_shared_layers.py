"""Learner submissions for 01_shared_layers (format: course/corpus.py)."""

from course.corpus import Submission, full_marks, no_marks

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
        feedback_contains=["predicted_params is 177, but 'mystery' has 97 parameters", "its kernel is counted once"],
    ),
]
