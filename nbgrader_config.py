"""nbgrader configuration for the kit.

The instructor notebooks in ``solutions/`` are nbgrader's *source*; ``nbgrader
generate_assignment`` writes the learner versions into ``notebooks/``. Every lesson
folder is one assignment (``solutions/01_shared_layers/01_shared_layers.ipynb``).
"""

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

c.CourseDirectory.course_id = "keras-layer-reuse"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "notebooks"

# What a learner sees in place of a solution region.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# A learner's notebook must never hang or exhaust the grader: every cell gets a time
# limit. (nbgrader reads Execute.timeout; ExecutePreprocessor.timeout is set as well for
# the tools that go through nbconvert directly.)
c.Execute.timeout = 120
c.ExecutePreprocessor.timeout = 120
