"""Settings every test process needs before TensorFlow is imported.

(No MPLBACKEND here: kernels started by the tests inherit the environment, and a forced
Agg backend would turn the lessons' inline charts into text. Headless matplotlib picks Agg
by itself.)
"""

import os

import pytest

from course.config import QUIET_ENV

for _name, _value in QUIET_ENV.items():
    os.environ.setdefault(_name, _value)


@pytest.fixture(scope="session")
def course_lab():
    """``course_lab(course, workdir, teacher=..., ...)``: a context manager running the kit's
    ``course lab`` on ``course`` (tests/labserver.py); the browser suite and the "Grade my
    work" server tests start theirs with it.

    Example::

        with course_lab(course, tmp_path) as lab:
            assert lab.request("GET", "api/status")[0] == 200
    """
    from labserver import running_course_lab

    return running_course_lab
