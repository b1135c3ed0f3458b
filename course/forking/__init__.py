"""Kernels forked from a warm parent that has already imported TensorFlow (docs/fast-kernels.md).

* :mod:`course.forking.protocol`: where a fork server lives, how it is found and spoken to;
* :mod:`course.forking.server`: the warm parent (``python -m course.forking.server``);
* :mod:`course.forking.child`: what a forked child does to become a kernel;
* :mod:`course.forking.provisioner`: the jupyter_client kernel provisioner that uses them.
"""
