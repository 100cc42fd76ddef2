"""Library shortcuts forbidden inside a block: :func:`forbid` makes the named functions raise
:class:`ForbiddenCall` (and, on request, every TensorFlow operation fail), so that a lab can insist
on "write it yourself"; :func:`no_library_convolution` is the preset for convolutions."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import sys
from typing import Mapping

__all__ = ["forbid", "no_library_convolution", "ForbiddenCall"]


class ForbiddenCall(RuntimeError):
    """Raised when a student's code calls a function that the exercise rules out."""

    def __init__(self, what: str, reason: str = ""):
        super().__init__(f"{what} is not allowed here{': ' + reason if reason else ''}")
        self.what = what


class _Guard:
    """What a :func:`forbid` block saw: the forbidden functions that were called."""

    def __init__(self, reason: str):
        self.reason = reason
        self.called: list[str] = []
        self.tf_device: str | None = None

    def blocked(self, error: BaseException | None) -> str | None:
        """The name of what was forbidden, if the student's code tried it."""
        if self.called:
            return self.called[0]
        seen = set()
        while error is not None and id(error) not in seen:
            seen.add(id(error))
            if isinstance(error, ForbiddenCall):
                return error.what
            if self.tf_device and self.tf_device in str(error):
                return "TensorFlow"
            error = error.__cause__ or error.__context__
        return None


def _patch(saved, guard, module, attr, label):
    original = getattr(module, attr, None)
    if original is None:
        return

    def forbidden(*args, **kwargs):
        guard.called.append(label)
        raise ForbiddenCall(label, guard.reason)

    saved.append((module, attr, original))
    setattr(module, attr, forbidden)


def _load(module_name: str, import_missing: bool):
    if module_name in sys.modules:
        return sys.modules[module_name]
    if not import_missing:
        return None
    try:
        if importlib.util.find_spec(module_name.split(".")[0]) is None:
            return None
        return importlib.import_module(module_name)
    except Exception:  # noqa: BLE001 - a broken optional install is not our business here
        return None


#: module -> {attribute: name shown to the student}. Entries deep inside a
#: library catch calls however the student imported the public function.
CONVOLUTION_FUNCTIONS: dict[str, dict[str, str]] = {
    "scipy.signal._signaltools": {
        "fftconvolve": "scipy.signal.fftconvolve",
        "oaconvolve": "scipy.signal.oaconvolve",
        "_freq_domain_conv": "scipy.signal.fftconvolve",
    },
    "scipy.signal._sigtools": {
        "_convolve2d": "scipy.signal.correlate2d / convolve2d",
        "_correlateND": "scipy.signal.correlate / convolve",
    },
    "scipy.ndimage._nd_image": {
        "correlate": "scipy.ndimage.correlate / convolve",
        "correlate1d": "scipy.ndimage.correlate1d / convolve1d",
    },
    "tensorflow.python.ops.gen_nn_ops": {
        "conv2d": "tf.nn.conv2d",
        "conv3d": "tf.nn.conv3d",
        "depthwise_conv2d_native": "tf.nn.depthwise_conv2d",
        "conv2d_backprop_input": "tf.nn.conv2d_transpose",
    },
    "torch.nn.functional": {"conv1d": "torch conv1d", "conv2d": "torch conv2d", "conv3d": "torch conv3d"},
    "torch": {"conv1d": "torch.conv1d", "conv2d": "torch.conv2d", "conv3d": "torch.conv3d"},
    "jax.lax": {"conv_general_dilated": "jax.lax.conv", "conv": "jax.lax.conv"},
}

# Modules worth importing so that an import inside the student's function is caught
# too. Heavy or optional ones (torch, jax) are patched only when already imported.
_IMPORT_IF_INSTALLED = ("scipy.signal._signaltools", "scipy.signal._sigtools", "scipy.ndimage._nd_image")


@contextlib.contextmanager
def forbid(functions: Mapping[str, Mapping[str, str]], *, reason: str = "", block_tensorflow: bool = False):
    """Make library functions raise :class:`ForbiddenCall` inside the block.

    ``functions`` maps a module name to ``{attribute: name shown}``; only modules
    that are importable are touched, and everything is restored on exit. With
    ``block_tensorflow=True`` every TensorFlow operation fails too: the block runs
    under a device that does not exist, with soft placement off. Yields a guard
    whose ``blocked(error)`` tells whether (and what) was forbidden.
    """
    guard = _Guard(reason)
    saved: list = []
    tf_state = None
    try:
        for module_name, attrs in functions.items():
            module = _load(module_name, module_name in _IMPORT_IF_INSTALLED)
            if module is None:
                continue
            for attr, label in attrs.items():
                _patch(saved, guard, module, attr, label)
        if block_tensorflow and "tensorflow" in sys.modules:
            tf = sys.modules["tensorflow"]
            guard.tf_device = "/device:CPU:977"
            soft = tf.config.get_soft_device_placement()
            tf.config.set_soft_device_placement(False)
            device = tf.device(guard.tf_device)
            device.__enter__()
            tf_state = (tf, soft, device)
        yield guard
    finally:
        if tf_state is not None:
            tf, soft, device = tf_state
            device.__exit__(None, None, None)
            tf.config.set_soft_device_placement(soft)
        for module, attr, original in reversed(saved):
            setattr(module, attr, original)


def no_library_convolution():
    """:func:`forbid` preset: no tf / keras / scipy / torch convolution, no TensorFlow at all."""
    return forbid(
        CONVOLUTION_FUNCTIONS,
        reason="write the convolution yourself with NumPy (slicing, np.sum, np.tensordot, "
               "np.einsum are all fine).",
        block_tensorflow=True,
    )
