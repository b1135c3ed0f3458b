"""Settings every test process needs before TensorFlow is imported.

(No MPLBACKEND here: kernels started by the tests inherit the environment, and a forced
Agg backend would turn the lessons' inline charts into text. Headless matplotlib picks Agg
by itself.)
"""

import os

from course.config import QUIET_ENV

for _name, _value in QUIET_ENV.items():
    os.environ.setdefault(_name, _value)
