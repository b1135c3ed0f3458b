"""Kernel isolation: the box each grading kernel runs in, its limits, and the fallback.

Used by both graders (``course grade``: :mod:`course.grading`; plain ``nbgrader
autograde``: the kernel provisioner of :mod:`course.forking`) through public functions:

* :mod:`course.isolation.kernels`: what one grading kernel gets (:func:`isolate_kernel`,
  :func:`describe`), the entry point for both graders;
* :mod:`course.isolation.launch`: ``python -m course.isolation.launch OPTIONS -- COMMAND``
  and :func:`~course.isolation.launch.apply`, which a forked child runs in-process;
* :mod:`course.isolation.box`: namespaces and a file system from an allow-list;
* :mod:`course.isolation.cgroups`: memory and process caps where cgroups can be had;
* :mod:`course.isolation.landlock`: the fallback without namespaces, and the network rule;
* :mod:`course.isolation.contain`: every process a kernel started dies with it;
* :mod:`course.isolation.linux`: the system calls Python's ``os`` lacks.

Which is used where: docs/teachers.md, "What each grader guarantees".
"""
