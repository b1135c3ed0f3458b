"""Settings every test process needs before TensorFlow is imported.

(No MPLBACKEND here: kernels started by the tests inherit the environment, and a forced
Agg backend would turn the lessons' inline charts into text. Headless matplotlib picks Agg
by itself.)
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
