"""Learner submissions for lesson 00 and the grade nbgrader must give each.

Exercise 1 (test_ex1_counts, 2 points): count the calls and variables of the given
`puzzle` model. Right answer: embed 2, mix 4 (twice in `branch`, twice in the loop),
join 1, norm 1, score 1 calls; 10 variables (embed 2, mix 2, norm 4, score 2).

Exercise 2 (test_ex2_news_model, 3 points): build `news` from the drawing: one `reader`
called on both inputs, two separate heads, 203 parameters.
"""

from pathlib import Path

import nbformat

from course.cells import cell_by_id
from course.corpus import Submission, Transform, full_marks, no_marks

EX1 = "ex1_counts"
EX2 = "ex2_news_model"
TEST1 = "test_ex1_counts"
TEST2 = "test_ex2_news_model"

SOURCE = (
    Path(__file__).resolve().parents[2]
    / "solutions"
    / "00_layers_calls_variables"
    / "00_layers_calls_variables.ipynb"
)


def first_cell_after(grade_id: str) -> int:
    """The number (from 1, as the grader's notes count) of the cell right after ``grade_id``
    in the instructor notebook: where a cell inserted below it stands."""
    nb = nbformat.read(SOURCE, as_version=4)
    return nb.cells.index(cell_by_id(nb, grade_id)) + 2


RIGHT_CALLS = '{"embed": 2, "mix": 4, "join": 1, "norm": 1, "score": 1}'


def counts(calls: str = RIGHT_CALLS, variables: str = "10", before: str = "") -> str:
    """An answer to exercise 1."""
    return f"{before}n_calls = {calls}\nn_variables = {variables}\n"


def news(
    reader: str = "one",
    heads: str = "separate",
    units: int = 8,
    body_activation: str = "relu",
    before: str = "",
) -> str:
    """An answer to exercise 2; the defaults give the right model."""
    readers = f'reader = layers.Dense({units}, activation="relu", name="reader")\n'
    title_in, body_in = "reader(title)", "reader(body)"
    if reader == "two":  # the drawing's one layer built twice
        readers += f'reader_body = layers.Dense({units}, activation="relu", name="reader_body")\n'
        body_in = "reader_body(body)"
    if heads == "separate":
        head_code = (
            f'title_features = layers.Dense(4, activation="relu", name="title_head")({title_in})\n'
            f'body_features = layers.Dense(4, activation="{body_activation}", '
            f'name="body_head")({body_in})\n'
        )
    else:  # one head for both branches
        head_code = (
            'head = layers.Dense(4, activation="relu", name="title_head")\n'
            f"title_features = head({title_in})\n"
            f"body_features = head({body_in})\n"
        )
    return (
        before + "keras.backend.clear_session()\n"
        'title = keras.Input(shape=(12,), name="title")\n'
        'body = keras.Input(shape=(12,), name="body")\n'
        + readers
        + head_code
        + 'joined = layers.Concatenate(name="join")([title_features, body_features])\n'
        'news = keras.Model([title, body], layers.Dense(3, activation="softmax", '
        'name="label")(joined), name="news")\n'
    )


# A learner who switches the visible checks off: only the hidden tests (run with a pristine
# copy of the helpers) stand between this and full marks.
SILENCE_CHECKS = (
    "for _name in ('assert_calls', 'assert_sharing_map', 'assert_param_count', "
    "'assert_output_shape',\n"
    "              'assert_call_counts', 'assert_variable_count'):\n"
    "    setattr(helpers, _name, lambda *args, **kwargs: None)\n"
)


def computes_after(grade_id: str, cells: int, seconds: int) -> Transform:
    """A transform: ``cells`` new cells below ``grade_id``, each computing for ``seconds``
    of CPU time (the limits count CPU time, course/grading/steps/cpu_time.py)."""

    def transform(nb: nbformat.NotebookNode) -> None:
        index = nb.cells.index(cell_by_id(nb, grade_id))
        computes = [
            nbformat.v4.new_code_cell(
                "import time\nstart = time.process_time()\n"
                f"while time.process_time() - start < {seconds}:  # computes, then goes on\n"
                "    pass"
            )
            for _ in range(cells)
        ]
        nb.cells[index + 1 : index + 1] = computes

    return transform


CASES = [
    Submission("correct", expected=full_marks()),
    Submission("untouched", base="blank", expected=no_marks()),
    # ---------------------------------------------------------------- exercise 1
    Submission(
        "ex1-variables-once-per-call",
        answers={EX1: counts(variables="18")},
        expected=full_marks(except_={TEST1: 0}),
        feedback_contains=[
            "18 is not the number of variables of the model 'puzzle'.",
            "once per call. 'embed' is called 2 times and 'mix' is called 4 times",
        ],
    ),
    Submission(
        "ex1-loop-missed",
        answers={EX1: counts(calls='{"embed": 2, "mix": 2, "join": 1, "norm": 1, "score": 1}')},
        expected=full_marks(except_={TEST1: 0}),
        feedback_contains=[
            "'mix': 2 is not its number of calls. Recount: every time the code",
            "applies 'mix' to a tensor is one call (in functions and loops too).",
        ],
    ),
    Submission(
        "ex1-weightless-layer-left-out",
        answers={EX1: counts(calls='{"embed": 2, "mix": 4, "norm": 1, "score": 1}')},
        expected=full_marks(except_={TEST1: 0}),
        feedback_contains=[
            "leaves out 'join' (Add). It has no variables, but each use of it is still a call"
        ],
    ),
    Submission(
        "ex1-frozen-variables-left-out",
        answers={EX1: counts(variables="8")},
        expected=full_marks(except_={TEST1: 0}),
        feedback_contains=[
            "You left out the 2 non-trainable variables (norm/moving_mean, norm/moving_variance)"
        ],
    ),
    Submission(
        "ex1-uncalled-layer-counted",
        answers={
            EX1: counts(
                calls='{"embed": 2, "mix": 4, "spare": 1, "join": 1, "norm": 1, "score": 1}'
            )
        },
        expected=full_marks(except_={TEST1: 0}),
        feedback_contains=["The model calls no layer named 'spare', so its count is 0, not 1"],
    ),
    Submission(
        # Replaces `puzzle` by a model that fits the answer: the visible checks pass, the
        # hidden test rebuilds the given model and grades the answer against it.
        "ex1-puzzle-replaced",
        answers={
            EX1: counts(
                calls='{"other": 1}',
                variables="2",
                before=(
                    'x = keras.Input(shape=(6,), name="x")\n'
                    'puzzle = keras.Model(x, layers.Dense(1, name="other")(x), name="puzzle")\n'
                ),
            )
        },
        expected=full_marks(except_={TEST1: 0}),
        feedback_contains=[
            "Both counts match the model.",
            "Your answer leaves out 'embed' (Dense).",
        ],
    ),
    # ---------------------------------------------------------------- exercise 2
    Submission(
        "ex2-two-readers",
        answers={EX2: news(reader="two")},
        expected=full_marks(except_={TEST2: 0}),
        feedback_contains=[
            "Layer 'reader' should be called 2 times",
            "Create the layer once and call that same object on every input.",
        ],
    ),
    Submission(
        "ex2-one-head-for-both",
        answers={EX2: news(heads="shared")},
        expected=full_marks(except_={TEST2: 0}),
        feedback_contains=[
            "'title_head' should be called 1 time, but it is called 2 times.",
            "no layer named 'body_head'",
        ],
    ),
    Submission(
        "ex2-reader-too-wide",
        answers={EX2: news(units=16)},
        expected=full_marks(except_={TEST2: 0}),
        feedback_contains=["'news' should have 203 parameters, but it has 371 (+168)."],
    ),
    Submission(
        # Heads of different kinds pass the visible checks (same calls, same counts); the
        # hidden test asks for two copies of one architecture, as drawn.
        "ex2-heads-differ",
        answers={EX2: news(body_activation="tanh")},
        expected=full_marks(except_={TEST2: 0}),
        feedback_contains=[
            "The model matches the drawing.",
            "'title_head' and 'body_head' should be copies of one architecture",
            "activation is 'relu' in 'title_head' and 'tanh' in 'body_head'",
        ],
    ),
    Submission(
        "ex2-checks-switched-off",
        answers={EX2: news(heads="shared", before=SILENCE_CHECKS)},
        expected=full_marks(except_={TEST2: 0}),
        manual_grade=[TEST2],  # patching the checks is flagged (course/grading/steps/code_scan.py)
        integrity_note=["calls `setattr` on the module `helpers`"],
        feedback_contains=[
            "The model matches the drawing.",
            "'title_head' should be called 1 time, but it is called 2 times.",
        ],
    ),
    # ---------------------------------------------------------------- time budget
    # Right answers, and three cells after exercise 1 that each compute just under the limit
    # per cell (19 s of CPU time, of tests/pipeline/conftest.py's TIME_LIMIT = 20): no cell
    # is over the limit, but together they would cost a minute. The notebook's time budget
    # (15 s of CPU time for all cells in the test course, NOTEBOOK_BUDGET; the kit's is
    # 600 s) runs out in the first of them, however fast the cells above ran (1 to 5 s, never
    # 15) and however busy the machine (the budget counts CPU time): it is interrupted, the
    # cells after it are not run, exercise 1 keeps its points and exercise 2 gets none. Both
    # graders run the kit's RestartingExecute and write the same note.
    Submission(
        "computes-through-budget",
        transform=computes_after(TEST1, cells=3, seconds=19),
        expected=full_marks(except_={TEST2: 0}),
        note_contains=[
            "Your notebook used up its time budget (15 s for all cells together) in cell "
            f"{first_cell_after(TEST1)}; the 6 cells after it were not run, so their tests score 0."
        ],
        feedback_contains=[
            "The notebook's time budget (15 s for all cells) ran out in this cell.",
            "Not run: your notebook's cells used up their time budget "
            f"(15 s for all cells together) in cell {first_cell_after(TEST1)}.",
        ],
    ),
]
