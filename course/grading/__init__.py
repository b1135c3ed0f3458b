"""Grading learners' notebooks: nbgrader's own steps, made fair, safe and parallel.

Two ways in, sharing every step:

* ``nbgrader autograde`` with the kit's ``nbgrader_config.py``, which puts the kit's
  preprocessors (:mod:`course.grading.steps`) into nbgrader's lists;
* ``course grade`` (:mod:`.cli`), which runs the same lists but executes the notebooks in
  parallel, in warm, contained kernels.

The map, one job per module, lowest first. Records both halves share::

    records                  jobs, prepared submissions, results, a run's summary, a run's report
    notes                    the grader's notes cell, and what it says about a run
    settings                 a run's kernel settings: environment, memory limit, sizes
    warmup                   WarmKernelPlan: what a warm kernel sets and imports first

``steps/``: the nbgrader preprocessors (both graders; see its ``__init__``).

``course grade``::

    kernel                   one isolated (course.isolation), limited, watched grading kernel
    pool                     kernels started ahead of demand
    run_notebook             run a notebook in a kernel; a dead kernel becomes outputs
    autograder               nbgrader's autograde split around execution (the gradebook)
    pipeline                 workers, the pool and the one gradebook thread together
    console                  what ``course grade`` prints, control characters escaped
    cli                      the ``course grade`` command
"""
