"""Learner submissions described relative to a lesson, for tests and benchmarks.

A :class:`Submission` says how a learner's notebook differs from the generated learner
notebook (``notebooks/<lesson>/<lesson>.ipynb``) and what nbgrader must award it:

* ``base="solution"`` fills every solution cell with the instructor's code (the
  ``### BEGIN/END SOLUTION`` marker lines removed); ``base="blank"`` keeps the stubs;
* ``answers`` replaces chosen solution cells (by nbgrader ``grade_id``) with other code;
* ``transform`` edits the finished notebook (or returns raw bytes, e.g. invalid JSON);
* ``expected`` gives the points per autograded test cell, usually written relative to a
  full or empty score with :func:`full_marks` / :func:`no_marks`;
* ``feedback_contains`` lists text the learner's feedback must show;
* ``integrity_note`` lists text of the grader's note that BOTH graders must write (the
  kit's integrity preprocessors: tampering found, files removed), ``manual_grade`` the test
  cells both must leave at 0 and *needs manual grade*, and ``extra_files`` files submitted
  next to the notebook (relative path -> text), e.g. a ``helpers/`` that shadows the kit's;
* ``needs_box`` marks a notebook whose outputs hold only where grading kernels run in a
  box (:mod:`course.isolation`; a system without user namespaces grades it otherwise: the
  pipeline tests leave it out there);
* ``needs_memory_cap`` marks a notebook whose outcome holds only where a grading kernel's
  memory is capped by a cgroup (which counts shared memory and in-memory files: as root,
  or with a delegated cgroup; the pipeline tests leave it out elsewhere);
* ``course_grade_only`` marks a notebook only ``course grade`` may grade (a memory bomb,
  one that reaches for the solutions: plain ``nbgrader autograde`` has no memory limit
  and no sandbox);
* ``note_contains`` gives text of the note BOTH graders put at the top of the learner's
  notebook about what grading restored or ignored (an edited or deleted test, a copied
  cell, a pasted foreign cell, cells in another order: :mod:`course.grading.steps.fairness`), and
  ``course_grade_note_contains`` text of the note only ``course grade`` writes, about the
  run (a timeout, a memory error, a file that is not a notebook).

The cases of a lesson live in ``tests/corpus/<lesson>.py`` as a ``CASES`` list::

    from course.corpus import Submission, full_marks, no_marks

    CASES = [
        Submission("correct", expected=full_marks()),
        Submission("untouched", base="blank", expected=no_marks()),
        Submission("wrong_siamese", answers={"build_siamese": "model = None"},
                   expected=full_marks(except_={"test_build_siamese": 0}),
                   feedback_contains=["must call the same layer twice"]),
    ]

and are turned into notebooks with :func:`write_submission` or, for a whole class in an
nbgrader course directory, :func:`place_submissions`. One module per job: :mod:`.submission`
(the description, its marks, writing it), :mod:`.edits` (the transforms), :mod:`.loading`
(a lesson's cases and what they lack), :mod:`.feedback` (the text of a feedback page); the
names are importable from here.
"""

from __future__ import annotations

from course.corpus.edits import (
    add_foreign_cell,
    delete_cell,
    delete_cells,
    duplicate_cell,
    edit_cell,
    move_cells,
)
from course.corpus.feedback import feedback_outputs
from course.corpus.loading import corpus_path, coverage_problems, lesson_corpus, load_corpus
from course.corpus.submission import (
    CORPUS_DIR,
    Marks,
    Submission,
    Transform,
    full_marks,
    no_marks,
    place_submissions,
    solution_sources,
    write_submission,
)

__all__ = [
    "CORPUS_DIR",
    "Marks",
    "Submission",
    "Transform",
    "add_foreign_cell",
    "corpus_path",
    "coverage_problems",
    "delete_cell",
    "delete_cells",
    "duplicate_cell",
    "edit_cell",
    "feedback_outputs",
    "full_marks",
    "lesson_corpus",
    "load_corpus",
    "move_cells",
    "no_marks",
    "place_submissions",
    "solution_sources",
    "write_submission",
]
