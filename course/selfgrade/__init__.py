"""Grade my work: a learner alone gets the teacher's grader, hidden checks and feedback.

The map, one job per module::

    engine     a throwaway nbgrader course: the learner's notebooks copied in, ``course grade``
    feedback   nbgrader's feedback page without hidden tests; the check that nothing leaks
    records    ``progress/``: results per lesson, the run's status, the lock, feedback pages
    run        one run at a time per course, its status kept up to date
    summary    the learner's progress as one JSON document (the page, the status endpoint)
    cli        ``course check`` (``make grade``): a progress bar, then the table
    server     the Jupyter server extension: start a grade, read its progress, feedback pages
    page       the progress page in JupyterLab (``progress.ipynb``): ipywidgets and matplotlib
"""
