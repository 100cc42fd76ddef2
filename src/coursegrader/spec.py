"""How a lab's author describes grading: steps, and the probes that judge them.

A lab's hidden checks live in ``solutions/<lab>/grader.py`` (instructor side only),
which defines ``STEPS``, a list of :class:`Step`. Each step names the answer cell it
grades (its ``grade_id``), what to call in it, the steps it builds on, and a
function that draws probes from a seeded generator. The expected value of a probe
is computed here, in the trusted process; the student's process only ever sees the
inputs. A report step, where the student studies an idea over seeds, is judged by a
:class:`Study`. See GRADING.md.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import io
import pathlib
import threading
from typing import Any, Callable

import numpy as np


@dataclasses.dataclass
class Probe:
    """One call of the student's function (or one value to read), and what must come back.

    ``reason`` is what the student reads when this probe fails, in words: say which
    property is wrong ("wrong values for strided inputs"), never the inputs or the answer.
    """

    reason: str
    args: tuple = ()
    kwargs: dict = dataclasses.field(default_factory=dict)
    expect: Any = None                 # an array, a number, or None with ``raises``
    rtol: float = 1e-7
    atol: float = 1e-9
    dtype: bool = True                 # the result's dtype must equal expect's
    integer: bool = False              # an int is required (not a float, not an array)
    raises: str | None = None          # the exception type's name the call must raise
    name: str | None = None            # for value steps: the variable to read
    judge: Callable[[Any], str | None] | None = None  # custom check of the returned value (a
    #   NumPy value, or a Keras model loaded with safe_mode=True): None when right, else what is wrong
    mistakes: dict[str, Any] = dataclasses.field(default_factory=dict)  # what each typical mistake
    #   returns on these inputs, under the words that name it (the self-check's): a wrong answer that
    #   matches one is told which mistake it is ("the variance divides by m - 1 ..."), never the values
    hint: str = ""                     # the rule this probe tests, told when its value is wrong and no
    #   typical mistake matches ("ties: the gradient goes to the first maximum only"): words, never values
    part: str = ""                     # the independent part of the step this probe judges (Step.parts)


@dataclasses.dataclass
class Step:
    """One graded step: the answer cell ``grade_id``, scored by the test cell ``test_<grade_id>``."""

    grade_id: str
    probes: Callable[[np.random.Generator], list[Probe]]
    call: str | None = None            # the function to call; None for a step graded on values
    names: tuple[str, ...] = ()        # a value step: the variables its cell defines
    needs: tuple[str, ...] = ()        # grade_ids of earlier steps, given in their reference version
    numpy_only: bool = False           # no TensorFlow, Keras, SciPy or Torch: checked and hidden
    forbid: tuple[str, ...] = ()       # names the answer may not use (functions, methods, layers)
    forbid_reason: str = ""            # the rule in words, e.g. "build it from convolutions and ReLU"
    allow: tuple[str, ...] = ()        # the parts of coursekit the answer may use, e.g. ("coursekit.train",):
    #   anything else of coursekit scores 0 ("calls coursekit.arith.conv_output_size: this step asks
    #   you to write it") and is hidden from the step in the sandbox
    parts: dict[str, float] = dataclasses.field(default_factory=dict)  # independent parts and their
    #   shares of the points, e.g. {"training mode": 0.5, "inference mode": 0.5}: each part scores when
    #   all of its probes pass, so a mistake in one costs only its share; empty: all or nothing
    timeout: float = 20.0              # seconds of wall-clock time for the whole step
    memory_mb: int = 1024              # address space for the student's process

    def __post_init__(self):
        if self.parts and abs(sum(self.parts.values()) - 1) > 1e-9:
            raise ValueError(f"step {self.grade_id}: the shares of its parts sum to {sum(self.parts.values()):g}, not 1")

    @property
    def defines(self) -> set[str]:
        return {self.call} if self.call else set(self.names)


MEAN_BAND = 0.05      # a reported mean may lie this far from the reference's, or 2 spreads if more
SPREAD_BAND = 0.04    # a reported spread may lie this far from the reference's, or 1 spread if more


def mean_band(sample) -> float:
    """How far from the mean of the reference's values over seeds a student's mean may lie: two
    standard deviations, and at least MEAN_BAND (five seeds may agree closely by chance)."""
    return max(2 * float(np.std(sample)), MEAN_BAND)


@dataclasses.dataclass(frozen=True)
class Study:
    """The judge of a report step: a study the student designed, measured again by the reference.

    The report holds seven numbers: the two of the setting the student chose (where BN goes and the
    learning rate; where to cut and how many examples), the mean and spread over seeds of the first
    arm (the idea) and of the second (without it), and the verdict (1: the idea wins, by more than
    the larger spread). The reference runs both arms at that setting over its own seeds; each
    reported mean must lie within :func:`mean_band` of the reference's, each spread within
    max(its spread, SPREAD_BAND), and the verdict must be the reference's, unless the reference's
    gap lies within ``near`` of its larger spread (then either verdict is right). The words say
    each failure the lab's way; ``{arm}`` in them names the arm."""

    form: Callable[[Any], str | None]    # what is wrong with the report's form: the self-check's words
    measure: Callable[..., tuple]        # the setting's two numbers -> each arm's reference values over seeds
    arms: tuple[str, str]                # the arms in the feedback's words, e.g. ("with BN", "without BN")
    mean: str                            # a mean outside the band: "the mean loss {arm} is outside ..."
    spread: str                          # a spread that is not the reference's
    verdict: str                         # a verdict the reference's numbers do not give
    near: float                          # a gap this close to the larger spread: either verdict is right
    better: str = "higher"               # "lower" when the arms report a loss, "higher" an accuracy
    setting: Callable[..., str | None] | None = None  # the reference's two arms -> why the setting
    #   cannot be studied (its runs diverge, the design does not train), or None

    def __post_init__(self):
        if self.better not in ("higher", "lower"):
            raise ValueError(f"Study.better is 'higher' or 'lower', not {self.better!r}")

    def judge(self, report) -> str | None:
        """None when the report is the reference's study at the student's setting, else what is wrong."""
        problem = self.form(report)
        if problem:
            return problem
        *setting, mean_1, spread_1, mean_2, spread_2, wins = np.asarray(report, dtype=float)
        measured = [np.asarray(values, dtype=np.float64) for values in self.measure(*setting)]
        if self.setting and (problem := self.setting(*measured)):
            return problem
        for arm, (mean, spread), want in zip(self.arms, ((mean_1, spread_1), (mean_2, spread_2)), measured):
            if abs(mean - want.mean()) > mean_band(want):
                return self.mean.format(arm=arm)
            if abs(spread - want.std()) > max(want.std(), SPREAD_BAND):
                return self.spread.format(arm=arm)
        first, second = measured
        gap = first.mean() - second.mean() if self.better == "higher" else second.mean() - first.mean()
        threshold = max(first.std(), second.std())
        if abs(gap - threshold) > self.near and bool(wins) != (gap > threshold):
            return self.verdict
        return None


_QUIET = threading.RLock()


@contextlib.contextmanager
def quiet():
    """Silence prints of trusted code (a reference solution, a training run) in a grader.

    ``sys.stdout`` belongs to the whole process, and the grader computes probes in a background
    thread while the main thread judges: two plain ``redirect_stdout`` blocks that interleave
    restore each other's stream in the wrong order and leave the process printing nowhere (or
    into a test's capture). One lock makes every silenced block run alone."""
    with _QUIET, contextlib.redirect_stdout(io.StringIO()):
        yield


def load(path: pathlib.Path) -> list[Step]:
    """The STEPS of a lab's grader.py."""
    module_spec = importlib.util.spec_from_file_location(f"grader_{path.parent.name}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return list(module.STEPS)
