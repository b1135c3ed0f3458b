"""Course tooling for teachers and maintainers: build the learner notebooks, launch the
lab, grade a class, report on it and benchmark the kit. Learners never need it; the
lessons import :mod:`helpers` only.
"""
