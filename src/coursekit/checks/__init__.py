"""Self-checks for students: a friendly PASS, or what is wrong and where to look.

The generic tools (:class:`Check`, :func:`compare`, :func:`check_function`,
:func:`check_model`, :func:`forbid`, quiz answers) are in ``_core``; each lab's
checks are in the module named after its chapter. Everything is re-exported here,
so a lab writes ``from coursekit import checks`` and calls ``checks.check_conv``.
"""

from . import _core, architectures, batch_norm, convolution, fcn, initialization, padding_stride, pooling, training, transfer_learning, visualization
from ._core import *  # noqa: F401,F403
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
    *_core.__all__,
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
