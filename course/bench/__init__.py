"""``course bench``: is the kit fast enough for a whole class? One run on this machine measures

1. **the floor**: a fresh kernel that runs only the lessons' setup cell (kernel start and
   the TensorFlow import), ``--repeat`` times, median. Every other figure is also given as
   a multiple of it;
2. **each lesson** executed with nbclient: wall time, its own compute (the kernel's time
   per cell, setup cell excluded), the slowest cells, and the kernel's peak memory;
3. **the nbval suite** as ``make test`` runs it (``pytest -n 2 solutions``): wall time;
4. **a synthetic class** (``--learners``, default 30) built from the submission corpus
   (``tests/corpus``): learner *i* hands in case *i* mod (number of cases) of every chosen
   lesson. It is graded twice, in two copies of one temporary course: with serial
   ``nbgrader autograde`` and with ``course grade --workers N``. Both gradebooks must hold
   the same grades;
5. **the helpers** on four big models (a 600-layer chain, one layer called 500 times,
   MobileNetV3Small, EfficientNetB0), on TensorFlow and JAX: first report, later reports,
   sharing diagram built and rendered (:mod:`course.bench.helpers_speed`; alone:
   ``python -m course.bench.helpers_speed``).

It prints a table with the issue's targets next to the measurements (PASS/MISS) and writes
everything to JSON. The machine's load average is recorded: on a busy machine the numbers are
noisy. Nothing here is a timed test. The notebook measurements are in
:mod:`course.bench.notebook_timing`, the ratios and targets in :mod:`course.bench.report`, the
printed table in :mod:`course.bench.table`, the phases in :mod:`course.bench.phases`, the class
in :mod:`course.bench.classroom` and the command in :mod:`course.bench.cli`.

Example::

    $ course bench                                   # one lesson graded for 30 learners
    $ course bench --all-lessons                     # the 180-notebook class
    $ course bench --lessons 03_tied_weights --learners 10 --skip nbval
    $ course bench --grader-cmd "python -m course.cli grade"   # another `course grade`
"""

from course.bench.classroom import (
    build_class,
    class_cases,
    class_layout,
    expected_grades,
    grade_differences,
    graded_compute,
    grader_command,
    learner_ids,
    left_out_reason,
    measure_class,
    nbgrader_command,
    read_grades,
)
from course.bench.cli import DEFAULT_JSON, DEFAULT_LESSON, PHASES, add_arguments, run
from course.bench.phases import (
    NBVAL_COMMAND,
    cores,
    forking,
    load_average,
    measure_floor,
    measure_kernel_start,
    measure_lesson,
    measure_nbval,
    progress,
)

__all__ = [
    "DEFAULT_JSON",
    "DEFAULT_LESSON",
    "NBVAL_COMMAND",
    "PHASES",
    "add_arguments",
    "build_class",
    "class_cases",
    "class_layout",
    "cores",
    "expected_grades",
    "forking",
    "grade_differences",
    "graded_compute",
    "grader_command",
    "learner_ids",
    "left_out_reason",
    "load_average",
    "measure_class",
    "measure_floor",
    "measure_kernel_start",
    "measure_lesson",
    "measure_nbval",
    "nbgrader_command",
    "progress",
    "read_grades",
    "run",
]
