"""The labs' reference implementations, on the instructor's side only.

Each module is named after the ``coursekit.checks`` module whose self-checks it serves, and holds
what computes a step's answer: the reference itself (``conv_reference``, ``same_pads``, ...) and
the typical mistakes that the self-checks name, as ``SELF_CHECKS = {check name: (reference,
suspects)}``. Lab graders (``solutions/<lab>/grader.py``) and tests import them from here; the
self-checks that students run read only their outputs, recorded by :mod:`.record` (``make labs``).
"""
