"""Grading that holds: student code runs in a sandbox, a trusted process judges what it returns.

- :mod:`.spec`    how a lab's author writes steps and probes (``solutions/<lab>/grader.py``)
- :mod:`.intake`  a submission, normalized against the release; never lost
- :mod:`.static`  what the student's code reaches for, read without running it
- :mod:`.sandbox` bubblewrap, an unprivileged user, rlimits, no network
- :mod:`.runner`  the student side, run inside the sandbox
- :mod:`.grade`   ``grade_submission``: one submission in, one result out (parallel-safe)
- :mod:`.feedback` what the student reads: visible tests and a reason per step
"""

from .grade import grade_submission, new_seed
from .spec import Probe, Step

__all__ = ["grade_submission", "new_seed", "Probe", "Step"]
