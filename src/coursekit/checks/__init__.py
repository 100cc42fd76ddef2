"""Self-checks for students: a friendly PASS, or what is wrong and where to look.

The generic tools are in private rooms, one idea each: :class:`Check` and how a report
ends (``_report``), running a student's function and explaining a crash (``_student``),
:func:`compare` (``_compare``), :func:`check_function` (``_functions``),
:func:`check_structure` (``_structure``), :func:`forbid` (``_forbid``) and quiz answers
(``_quiz``); each lab's checks are in the module named after its chapter. Everything is re-exported here,
so a lab writes ``from coursekit import checks`` and calls ``checks.check_conv``.
"""

from . import _compare, _forbid, _functions, _quiz, _report, _structure, architectures, batch_norm, convolution, fcn, initialization, padding_stride, pooling, training, transfer_learning, visualization
from ._report import *  # noqa: F401,F403
from ._compare import *  # noqa: F401,F403
from ._functions import *  # noqa: F401,F403
from ._structure import *  # noqa: F401,F403
from ._structure import check_model  # noqa: F401 - check_structure's first name
from ._forbid import *  # noqa: F401,F403
from ._quiz import *  # noqa: F401,F403
from .convolution import *  # noqa: F401,F403
from .padding_stride import *  # noqa: F401,F403
from .pooling import *  # noqa: F401,F403
from .architectures import *  # noqa: F401,F403
from .training import *  # noqa: F401,F403
from .batch_norm import *  # noqa: F401,F403
from .initialization import *  # noqa: F401,F403
from .transfer_learning import *  # noqa: F401,F403
from .visualization import *  # noqa: F401,F403
from .fcn import *  # noqa: F401,F403

# One line per lab module: its public names join the package's.
__all__ = [
    *_report.__all__,
    *_compare.__all__,
    *_functions.__all__,
    *_structure.__all__,
    "check_model",
    *_forbid.__all__,
    *_quiz.__all__,
    *convolution.__all__,
    *padding_stride.__all__,
    *pooling.__all__,
    *architectures.__all__,
    *training.__all__,
    *batch_norm.__all__,
    *initialization.__all__,
    *transfer_learning.__all__,
    *visualization.__all__,
    *fcn.__all__,
]
