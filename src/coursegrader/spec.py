"""How a lab's author describes grading: steps, and the probes that judge them.

A lab's hidden checks live in ``solutions/<lab>/grader.py`` (instructor side only),
which defines ``STEPS``, a list of :class:`Step`. Each step names the answer cell it
grades (its ``grade_id``), what to call in it, the steps it builds on, and a
function that draws probes from a seeded generator. The expected value of a probe
is computed here, in the trusted process; the student's process only ever sees the
inputs. See GRADING.md.
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
