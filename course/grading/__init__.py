"""Grading learners' notebooks: nbgrader's own steps, made fair, safe and parallel.

Two ways in, sharing every step below:

* ``nbgrader autograde`` with the kit's ``nbgrader_config.py``, which puts the kit's
  preprocessors into nbgrader's lists (:func:`fairness.sanitize_preprocessors`,
  :func:`execute.autograde_preprocessors`);
* ``course grade`` (:mod:`.cli`), which runs the same lists but executes the notebooks in
  parallel, in warm, contained kernels.

The map, one job per module. nbgrader steps (preprocessors)::

    fairness                 sanitize: copies, unknown and deleted cells, what was restored
    execute                  Execute that replaces a kernel which does not start; time budget
    integrity                static scan of learner code for changes to how grading runs
    integrity_preprocessors  guard the folder, judge integrity, save the grades of flagged tests
    output_limits            caps on what a learner's outputs may hold
    notes                    the grader's notes cell, and what it says about a run

``course grade``::

    settings                 a run's kernel settings: environment, memory limit, sizes
    warmup                   WarmKernelPlan: what a warm kernel sets and imports first
    kernel                   one isolated (course.isolation), limited, watched grading kernel
    pool                     kernels started ahead of demand
    execution                run a notebook in a kernel; a dead kernel becomes outputs
    records                  jobs, prepared submissions, results, a run's summary
    autograder               nbgrader's autograde split around execution (the gradebook)
    pipeline                 workers, the pool and the one gradebook thread together
    console                  what ``course grade`` prints, control characters escaped
    cli                      the ``course grade`` command
"""
