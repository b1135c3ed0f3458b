"""Learner submissions for 05_capstone (format: course/corpus.py).

Parts and points: test_ex1_part_a_sharing 4, test_ex1_part_b_tie 2, test_ex1_part_c_budget 2
(all after the solution cell ex1_build_model) and test_ex2_part_d_accuracy 2 (after
ex2_train_model). A mistake in one part must cost that part's points and no others, so
each wrong model below keeps everything else as specified: a duplicated encoder stays in
the budget (7,516) and still trains past the floor; a broken tie leaves the sharing map
(which ignores `digit`) and the budget alone. The stretch part (stretch_savable, making the
model savable) has no test cell: whatever a learner writes there, the points stay.

Wrong answers are the instructor's code with one exact edit (see `_edited`), so they follow
the solution when it changes, and fail loudly when an edit no longer applies.
"""

from __future__ import annotations

import json
from pathlib import Path

from course.cells import grade_id_of
from course.corpus import (
    Submission,
    add_foreign_cell,
    delete_cell,
    delete_cells,
    duplicate_cell,
    full_marks,
    move_cells,
    no_marks,
)

LESSON = "05_capstone"
SOURCE = Path(__file__).resolve().parents[2] / "solutions" / LESSON / f"{LESSON}.ipynb"

A, B, C, D = (
    "test_ex1_part_a_sharing",
    "test_ex1_part_b_tie",
    "test_ex1_part_c_budget",
    "test_ex2_part_d_accuracy",
)


def _solution(grade_id: str) -> str:
    """The instructor's code of solution cell ``grade_id``, without the SOLUTION markers."""
    for cell in json.loads(SOURCE.read_text(encoding="utf-8"))["cells"]:
        if grade_id_of(cell) == grade_id:
            source = "".join(cell["source"])
            return "\n".join(
                line
                for line in source.splitlines()
                if "### BEGIN SOLUTION" not in line and "### END SOLUTION" not in line
            )
    raise KeyError(f"{SOURCE.name} has no cell {grade_id!r}")


def _edited(grade_id: str, *edits: tuple[str, str]) -> dict[str, str]:
    """``{grade_id: solution code with each (old, new) edit applied}``; each ``old`` must
    occur exactly once."""
    code = _solution(grade_id)
    for old, new in edits:
        if code.count(old) != 1:
            raise ValueError(
                f"{LESSON} corpus: {old!r} occurs {code.count(old)} times in {grade_id}; update "
                "the edit"
            )
        code = code.replace(old, new)
    return {grade_id: code}


TRAIN_WITHOUT_FIT = """\
model.compile(
    optimizer=keras.optimizers.Adam(learning_rate=0.01),
    loss={"same": "binary_crossentropy", "larger": "binary_crossentropy",
          "digit": "sparse_categorical_crossentropy"},
)
"""


# --- Issue 24: run-time integrity (course/grading/steps/runtime_guard.py): what the training
# cell's code did, whatever its spelling.
_NOOP_WRAPS = "lambda *args, **kwargs: (lambda function: (lambda *a, **k: None))"
_PAYLOAD = f"import functools\nfunctools.wraps = {_NOOP_WRAPS}\n"
# The example: an untrained model, and every check of the hidden test's fresh
# pristine() copy made a no-op by rot13 code run through an `exec` found by name.
UNTRAINED_EXEC_ROT13 = TRAIN_WITHOUT_FIT + (
    "import codecs\n"
    f"_source = {__import__('codecs').encode(_PAYLOAD, 'rot13')!r}\n"
    'getattr(print.__self__, "".join(["ex", "ec"]))(codecs.decode(_source, "rot13"))\n'
)
# Keras itself changed through an alias: the class of every model answers `predict`.
UNTRAINED_KERAS_PATCHED = TRAIN_WITHOUT_FIT + (
    "_base = keras.Model\n"
    '_real = getattr(_base, "pre" + "dict")\n'
    'setattr(_base, "pre" + "dict", lambda self, *args, **kwargs: _real(self, *args, **kwargs))\n'
)
# Harmless: the same training through aliases.
TRAIN_THROUGH_ALIASES = TRAIN_WITHOUT_FIT + (
    "_fit = model.fit\nhistory = _fit(train_x, train_y, epochs=8, batch_size=64, verbose=0)\n"
)
RUNTIME = "ran, the grader found what the checks rely on changed by the code above it"
FLAGGED = "score 0 until your teacher grades them by hand"

CASES = [
    Submission("correct", expected=full_marks()),
    Submission(
        "untouched", base="blank", expected=no_marks(), feedback_contains=["NotImplementedError"]
    ),
    # Right, written another way: the typed digits' Embedding with mask_zero=True (a habit
    # from text models) and the two vectors flattened by a Lambda. The Lambda reads the
    # mask, so the graph holds the Embedding's mask computation, a `NotEqual` operation
    # node, which owns no variables and is no layer call: the checks step over it. Keras
    # warns that the Lambda drops the mask; the model computes what the lesson's does.
    Submission(
        "correct_mask_zero",
        answers=_edited(
            "ex1_build_model",
            (
                'layers.Embedding(10, 16, name="typed_embedding")',
                'layers.Embedding(10, 16, mask_zero=True, name="typed_embedding")',
            ),
            (
                'layers.Flatten(name="typed_flatten")',
                'layers.Lambda(lambda t: ops.reshape(t, (-1, 32)), name="typed_flatten")',
            ),
        ),
        expected=full_marks(),
        feedback_contains=["Part A: the visible checks pass.", "Part B: the visible checks pass."],
    ),
    # Part A: a second encoder for box B. Visible check fails (call count).
    Submission(
        "encoder_duplicated",
        answers=_edited(
            "ex1_build_model",
            (
                "code_b = image_encoder(image_b)",
                "image_encoder_b = keras.Sequential(\n"
                '    [keras.Input((64,)), layers.Dense(32, activation="relu"), layers.Dense(16, '
                'activation="relu")],\n'
                '    name="image_encoder_b",\n'
                ")\n"
                "code_b = image_encoder_b(image_b)",
            ),
        ),
        expected=full_marks(except_={A: 0}),
        feedback_contains=["'image_encoder' should be called 2 times", "'image_encoder_b'"],
    ),
    # Part A: the heads share their hidden layer. Visible checks pass; the hidden sharing map fails.
    Submission(
        "heads_share_hidden_layer",
        answers=_edited(
            "ex1_build_model",
            (
                "def make_head(name):",
                'head_hidden = layers.Dense(HEAD_UNITS, activation="relu", '
                'name="head_hidden")\n\n\n'
                "def make_head(name):",
            ),
            ('layers.Dense(HEAD_UNITS, activation="relu", name=f"{name}_hidden"),', "head_hidden,"),
        ),
        expected=full_marks(except_={A: 0}),
        feedback_contains=["['larger', 'same'] share variables, but they should not"],
    ),
    # Part B: an ordinary Dense instead of the tie.
    Submission(
        "tie_missing",
        answers=_edited(
            "ex1_build_model",
            (
                'digit = TiedDigitScores(typed_embedding, name="digit")(code_a)',
                'digit = layers.Dense(10, activation="softmax", name="digit")(code_a)',
            ),
        ),
        expected=full_marks(except_={B: 0}),
        feedback_contains=["'digit' should be tied to 'typed_embedding'"],
    ),
    # Part B: the tie works, but E is tracked as digit's weight too (lesson 03's trap).
    Submission(
        "tie_tracks_embedding",
        answers=_edited(
            "ex1_build_model",
            (
                'object.__setattr__(self, "embedding", embedding)',
                "self.embedding = embedding",
            ),
        ),
        expected=full_marks(except_={B: 0}),
        feedback_contains=["'digit' should have 10 parameters, but it has 170"],
    ),
    # Part C: heads too wide for the budget.
    Submission(
        "over_budget",
        answers=_edited("ex1_build_model", ("HEAD_UNITS = 16", "HEAD_UNITS = 64")),
        expected=full_marks(except_={C: 0}),
        feedback_contains=["9,708 parameters, over the budget of 4,000 to 8,000"],
    ),
    # Part D: compiled but never trained.
    Submission(
        "untrained",
        answers={"ex2_train_model": TRAIN_WITHOUT_FIT},
        expected=full_marks(except_={D: 0}),
        feedback_contains=["should be at least 85.0%"],
    ),
    # Part D: untrained, with test_y replaced by the model's own answers, so the visible
    # check passes; the hidden test draws its own forms.
    Submission(
        "test_set_replaced",
        answers={
            "ex2_train_model": TRAIN_WITHOUT_FIT
            + (
                "predicted = helpers.predict_outputs(model, test_x)\n"
                'test_y = {"same": (predicted["same"][:, 0] > 0.5).astype("float32"),\n'
                '          "larger": (predicted["larger"][:, 0] > 0.5).astype("float32"),\n'
                '          "digit": predicted["digit"].argmax(axis=1)}\n'
            )
        },
        expected=full_marks(except_={D: 0}),
        feedback_contains=["should be at least 85.0%"],
    ),
    # Part D: untrained, with the check replaced by a no-op; the hidden test uses pristine().
    Submission(
        "check_patched",
        answers={
            "ex2_train_model": TRAIN_WITHOUT_FIT
            + "helpers.assert_accuracy = lambda *args, **kwargs: None\n"
        },
        expected=full_marks(except_={D: 0}),
        manual_grade=[D],  # patching the check is flagged (course/grading/steps/code_scan.py)
        integrity_note=[
            "assigns to `helpers.assert_accuracy` (an attribute of an imported module)"
        ],
        feedback_contains=["should be at least 85.0%"],
    ),
    # The stretch part (section 5) is optional and not graded: left blank, or done wrong (a
    # config but no registration, so load_model cannot find the class), the grade is the
    # same; the ungraded check cell tells the learner what went wrong.
    Submission(
        "stretch_left_blank",
        answers={"stretch_savable": "# YOUR CODE HERE\nraise NotImplementedError()\n"},
        expected=full_marks(),
        feedback_contains=["NotImplementedError: Object TiedDigitScores was created by passing"],
    ),
    Submission(
        "stretch_not_registered",
        answers=_edited(
            "stretch_savable",
            ('@keras.saving.register_keras_serializable(package="capstone")\n', ""),
        ),
        expected=full_marks(),
        feedback_contains=["Could not locate class 'SavableDigitScores'"],
    ),
    # Ordinary edits, graded on what the notebook did (course/grading/steps/fairness.py) -----
    # Every test cell follows a locked markdown cell: a deleted test goes back after it and runs.
    Submission(
        "deletes_test_cell",
        transform=delete_cell(B),
        expected=full_marks(),
        note_contains=[
            f"Graded cell(s) `{B}` were missing from your notebook; the grader added them back and "
            "ran them"
        ],
    ),
    Submission(
        "deletes_every_test_cell",
        answers=_edited(
            "ex1_build_model",
            (
                'digit = TiedDigitScores(typed_embedding, name="digit")(code_a)',
                'digit = layers.Dense(10, activation="softmax", name="digit")(code_a)',
            ),
        ),
        transform=delete_cells(A, B, C, D),
        expected=full_marks(except_={B: 0}),
        feedback_contains=["'digit' should be tied to 'typed_embedding'"],
        note_contains=[
            f"Graded cell(s) `{A}`, `{B}`, `{C}`, `{D}` were missing from your notebook; the "
            "grader added them back"
        ],
    ),
    # The training exercise deleted (answer and test): the test is put back, fails on the
    # untrained model, and exercise 1 keeps its 8 points.
    Submission(
        "deletes_exercise",
        transform=delete_cells("ex2_train_model", D),
        expected=full_marks(except_={D: 0}),
        feedback_contains=["should be at least 85.0%"],
        note_contains=[
            f"Graded cell(s) `{D}` were missing",
            "Answer cell(s) `ex2_train_model` were missing",
        ],
    ),
    # Copy and paste: every copy runs where it stands; the last copy carries the grade id.
    Submission(
        "copies_answer_cell",
        transform=duplicate_cell("ex1_build_model"),
        expected=full_marks(),
        note_contains=[
            "Cell `ex1_build_model` appears 2 times in your notebook. Every copy ran where it "
            "stands"
        ],
    ),
    Submission(
        "copies_training_cell",
        transform=duplicate_cell("ex2_train_model"),
        expected=full_marks(),
        note_contains=["Cell `ex2_train_model` appears 2 times"],
    ),
    # A graded cell of another lesson pasted in: it runs (and fails) as an ordinary cell.
    Submission(
        "pastes_foreign_cell",
        transform=add_foreign_cell(
            "ex1_build_model", "test_ex1_shared_model", "helpers.assert_calls(shared_model, {})"
        ),
        expected=full_marks(),
        feedback_contains=["name 'shared_model' is not defined"],
        note_contains=["is marked as `test_ex1_shared_model`, a cell this lesson does not have"],
    ),
    # The training exercise moved to the end of the notebook: it still passes there.
    Submission(
        "moves_exercise",
        transform=move_cells("exercise_train", D),
        expected=full_marks(),
        note_contains=[
            "Some of your cells are in another order than in the lesson; they ran in your order"
        ],
    ),
    # Issue 24: run-time integrity
    Submission(
        "rt-untrained-exec-rot13",
        answers={"ex2_train_model": UNTRAINED_EXEC_ROT13},
        expected=full_marks(except_={D: 0}),
        manual_grade=[D],
        integrity_note=[
            f"(`{D}`) {RUNTIME}",
            "ran code built from a string at run time",
            "`functools.wraps` was replaced",
            f"`{D}` {FLAGGED}",
        ],
    ),
    Submission(
        "rt-untrained-keras-patched",
        answers={"ex2_train_model": UNTRAINED_KERAS_PATCHED},
        expected=full_marks(except_={D: 0}),
        manual_grade=[D],
        integrity_note=[
            "`keras.src.models.model.Model.predict` was added to the class",
            f"`{D}` {FLAGGED}",
        ],
    ),
    Submission(
        "rt-train-through-aliases",
        answers={"ex2_train_model": TRAIN_THROUGH_ALIASES},
        expected=full_marks(),
    ),
]
