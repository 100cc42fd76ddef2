"""The instructor's grading package: student code runs in a sandbox, a trusted process judges
what it returns. Instructor-only: it is not part of the students' coursekit (its own
distribution, cnn-coursegrader), and its command line is ``coursegrader`` (:mod:`.cli`).

- :mod:`.spec`    how a lab's author writes steps, probes and a study's judge (``solutions/<lab>/grader.py``)
- :mod:`.intake`  a submission, normalized against the release; never lost
- :mod:`.static`  what the student's code reaches for, read without running it
- :mod:`.sandbox` bubblewrap, an unprivileged user, rlimits, no network
- :mod:`.runner`  the student side, run inside the sandbox
- :mod:`.grade`   ``grade_submission``: one submission in, one result out (parallel-safe)
- :mod:`.feedback` what the student reads: visible tests and a reason per step
- :mod:`.course`  generate the release, grade submissions into nbgrader's gradebook
- :mod:`.gradebook` nbgrader's gradebook: one result recorded whole (scores and reasons), scores read back
- :mod:`.classroom` a class: release, collect, autograde in parallel, feedback, export
- :mod:`.corpus`  the adversarial corpus of a lab, with the scores a correct grader gives
- :mod:`.generated_class` a class's submissions of a lab (an LMS download), with their scores
- :mod:`.solution_text` which lines of the course are answers (solutions, hidden checks)
- :mod:`.publish` the students' copy of the course: no answers, no history
- :mod:`.pgtemp`  a throw-away PostgreSQL server for tests and benchmarks
"""

from .grade import grade_submission, new_seed
from .spec import Probe, Step, Study, quiet

__all__ = ["grade_submission", "new_seed", "Probe", "Step", "Study", "quiet"]
