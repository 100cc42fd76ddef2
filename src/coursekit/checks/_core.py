"""Self-checks for students: a friendly PASS, or what is wrong and where to look.

Every check prints one short report and returns a :class:`Check`, which is truthy
when the check passed. Pass ``strict=True`` (or call ``.require()``) to turn a
failure into an ``AssertionError`` carrying the same message, for graded cells.
A check never lets the student's error escape as a long traceback: an exception
raised by their code is summarised in two lines that point at the line that failed.

Generic tools, for every lab:

- :func:`compare` -- one result against the expected one: ``None`` returned,
  shape, dtype, NaN, then where values differ and by how much, with a diagnosis of
  common slips (transposed, sign flipped, off by a constant, scaled) and
  ``suspects``: wrong answers that a known mistake produces, each with its hint.
- :func:`check_function` -- run a student's function on several cases and compare
  each with a reference function.
- :func:`forbid` / :func:`no_library_convolution` -- a context manager in which
  library shortcuts raise, so that a lab can insist on "write it yourself".
- :func:`check_model` -- a Keras model's layers, output shapes and parameter counts
  against the expected ones (the "structure" tier of grading).

Each lab's own checks live in a module of this package named after its chapter
(``convolution``, ``padding_stride``, ``pooling``, ...), built on these tools; the
package re-exports them all, so a lab writes ``from coursekit import checks``.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import linecache
import math
import sys
import traceback
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from ._recorded import NotRecorded

__all__ = [
    "Check",
    "case",
    "compare",
    "check_function",
    "check_model",
    "forbid",
    "no_library_convolution",
    "ForbiddenCall",
    "answer_key",
    "check_answers",
]

PASS_MARK = "\u2714"  # heavy check mark
FAIL_MARK = "\u2718"  # heavy ballot X


# --------------------------------------------------------------------------
# The result object
# --------------------------------------------------------------------------


class Check:
    """The outcome of one check: truthy when it passed, printable, and strict on demand."""

    def __init__(self, name: str, passed: bool, lines: Iterable[str] = ()):
        self.name = name
        self.passed = bool(passed)
        self.lines = [line for line in lines if line]
        self._shown = False

    @property
    def message(self) -> str:
        mark, word = (PASS_MARK, "PASS") if self.passed else (FAIL_MARK, "FAIL")
        head = f"{mark} {self.name}: {word}"
        if not self.lines:
            return head
        if self.passed:
            return f"{head} ({'; '.join(self.lines)})"
        return head + "".join("\n    " + line.replace("\n", "\n    ") for line in self.lines)

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"Check({self.name!r}, passed={self.passed})"

    def show(self) -> "Check":
        print(self.message)
        self._shown = True
        return self

    def _ipython_display_(self):
        # The check already printed its report; do not print it a second time when
        # it is the last expression of a cell.
        if not self._shown:
            self.show()

    def require(self) -> "Check":
        """Raise AssertionError with the report if the check failed."""
        if not self.passed:
            raise AssertionError(self.message)
        return self


def _finish(check: Check, verbose: bool, strict: bool) -> Check:
    check = _borrowing(check)
    if verbose:
        check.show()
    if strict:
        check.require()
    return check


def _borrowing(check: Check) -> Check:
    """The check, failed, when the student's function calls coursekit for what the step asks them
    to write: grading would give it 0, and the student hears it here first."""
    from ._borrowed import ALLOWED, borrowed, students_functions

    lines = [f"{fn.__name__} {use}: grading gives this step 0, it asks you to write that yourself"
             for fn in students_functions() for use in borrowed(fn, ALLOWED.get(check.name, ()))]
    lines = [line for line in dict.fromkeys(lines) if line not in check.lines]   # nested checks: said once
    return Check(check.name, False, [*lines, *([] if check.passed else check.lines)]) if lines else check


# --------------------------------------------------------------------------
# Formatting helpers
# --------------------------------------------------------------------------


def _fmt_shape(shape) -> str:
    return "(" + ", ".join(str(int(d)) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _fmt_index(index) -> str:
    return "[" + ", ".join(str(int(i)) for i in index) + "]"


def _fmt_value(value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if value == int(value) and abs(value) < 1e15:
            return f"{value:.1f}"
        return f"{value:.6g}"
    return repr(value)


def _describe(value) -> str:
    """A short description of an argument: arrays by shape and dtype."""
    if isinstance(value, np.ndarray):
        return f"array{_fmt_shape(value.shape)} {value.dtype}"
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return f"tensor{_fmt_shape(tuple(value.shape))} {getattr(value.dtype, 'name', value.dtype)}"
    return repr(value)


def _as_array(value):
    """(array, problem) for what a student returned."""
    if value is None:
        return None, "returned None: did you forget the `return` statement?"
    if hasattr(value, "numpy") and callable(value.numpy):  # tf.Tensor, torch tensor
        try:
            value = value.numpy()
        except Exception:  # noqa: BLE001 - symbolic tensors and the like
            return None, f"returned a symbolic {type(value).__name__}; return a NumPy array."
    ragged = (f"returned a {type(value).__name__} that NumPy cannot turn into a numeric array "
              "(a ragged list, or a list of arrays of different shapes?).")
    try:
        array = np.asarray(value)
    except Exception:  # noqa: BLE001 - ragged lists and the like
        return None, ragged
    if array.dtype == object:
        return None, ragged
    return array, None


# --------------------------------------------------------------------------
# compare
# --------------------------------------------------------------------------


def _shape_hints(got_shape, want_shape) -> list[str]:
    hints = []
    if len(got_shape) == len(want_shape) and tuple(got_shape) == tuple(want_shape)[::-1]:
        hints.append("the axes look reversed: check the order in which you index or build them.")
    elif int(np.prod(got_shape)) == int(np.prod(want_shape)) and got_shape:
        squeeze_g = tuple(d for d in got_shape if d != 1)
        squeeze_w = tuple(d for d in want_shape if d != 1)
        if squeeze_g == squeeze_w:
            hints.append("same numbers, but an axis of size 1 is missing or extra "
                         "(np.squeeze, or x[..., None], to fix it).")
        else:
            hints.append("same number of values arranged differently: check reshape and axis order.")
    return hints


def _value_hints(got: np.ndarray, want: np.ndarray, rtol: float, atol: float) -> list[str]:
    """Cheap diagnoses of common slips, tried in order."""
    hints = []
    if got.ndim == 2 and got.shape[0] == got.shape[1] and got.shape[0] > 1:
        if np.allclose(got, want.T, rtol=rtol, atol=atol):
            return ["your result is the transpose of the expected one: rows and columns are swapped."]
    if np.any(want != 0) and np.allclose(got, -want, rtol=rtol, atol=atol):
        return ["your result has the opposite sign everywhere."]
    diff = got.astype(np.float64) - want.astype(np.float64)
    if diff.size > 1 and np.allclose(diff, diff.flat[0], rtol=0, atol=atol + rtol * np.abs(want).max()):
        hints.append(f"every value is off by the same amount ({_fmt_value(diff.flat[0])}): "
                     "a constant added twice, or forgotten?")
        return hints
    nonzero = np.abs(want) > atol
    if nonzero.sum() > 1 and np.all(np.isfinite(got)):
        ratio = got[nonzero].astype(np.float64) / want[nonzero]
        if np.allclose(ratio, ratio[0], rtol=1e-6) and not np.isclose(ratio[0], 1.0):
            hints.append(f"every value is {_fmt_value(ratio[0])} times the expected one: "
                         "a missing or extra scale factor?")
    return hints


def compare(
    name: str,
    got,
    expected,
    *,
    rtol: float = 1e-5,
    atol: float = 1e-8,
    hint: str | None = None,
    check_dtype: bool = False,
    suspects: Mapping[str, Any] | None = None,
    context: str | None = None,
    reveal: bool = True,
    verbose: bool = True,
    strict: bool = False,
) -> Check:
    """Compare a student's result with the expected one and explain any difference.

    Parameters
    ----------
    name : the exercise, printed at the start of the report.
    got, expected : arrays, tensors, numbers or nested lists.
    rtol, atol : tolerance, as in ``np.allclose``. Integers compare exactly when both
        sides are integers.
    hint : what to look at, added to every failure.
    check_dtype : also require ``got.dtype == expected.dtype``.
    suspects : ``{hint: wrong_result}``: results that a known mistake produces. When
        ``got`` matches one of them, its hint is the diagnosis.
    context : which case this is (e.g. the input shapes), printed on failure.
    reveal : show the expected values; ``False`` for quiz answers, where the report
        should say "not yet" without giving the answer away.
    verbose : print the report. strict : raise AssertionError on failure.
    """
    lines = [context] if context else []

    def fail(*reasons):
        return _finish(Check(name, False, [*lines, *reasons, f"Hint: {hint}" if hint else ""]),
                       verbose, strict)

    want = np.asarray(expected)
    got_arr, problem = _as_array(got)
    if problem:
        return fail(problem)
    if got_arr.shape != want.shape:
        return fail(f"shape {_fmt_shape(got_arr.shape)} but expected {_fmt_shape(want.shape)}.",
                    *_shape_hints(got_arr.shape, want.shape))
    if check_dtype and got_arr.dtype != want.dtype:
        return fail(f"dtype {got_arr.dtype} but expected {want.dtype}: "
                    f"the result should keep the inputs' dtype (e.g. np.zeros(shape, dtype=...)).")
    if got_arr.dtype.kind not in "biufc":
        return fail(f"dtype {got_arr.dtype} is not numeric.")

    want_finite = np.isfinite(want) if want.dtype.kind in "fc" else np.ones(want.shape, bool)
    bad_nan = ~np.isfinite(got_arr) & want_finite if got_arr.dtype.kind in "fc" else np.zeros(want.shape, bool)
    if bad_nan.any():
        index = np.argwhere(bad_nan)[0]
        where = f" at {_fmt_index(index)}" if want.ndim else ""
        return fail(f"{int(bad_nan.sum())} value(s) are NaN or infinite, the first{where}: "
                    "uninitialised memory (np.empty) or a division by zero?")

    exact = got_arr.dtype.kind in "biu" and want.dtype.kind in "biu"
    if exact:
        close = got_arr == want
    else:
        close = np.isclose(got_arr, want, rtol=rtol, atol=atol, equal_nan=True)
    if np.all(close):
        return _finish(Check(name, True, lines), verbose, strict)

    for suspect_hint, wrong in (suspects or {}).items():
        wrong = np.asarray(wrong)
        if wrong.shape == got_arr.shape and np.allclose(got_arr, wrong, rtol=rtol, atol=atol):
            lines.append(f"values differ from the expected ones, and match what this mistake gives: "
                         f"{suspect_hint}")
            return fail()

    if not reveal:
        return fail(f"{_fmt_value(got_arr.item()) if got_arr.ndim == 0 else 'your answer'} is not right yet.")
    if want.ndim == 0:
        return fail(f"got {_fmt_value(got_arr.item())} but expected {_fmt_value(want.item())}.")
    bad = ~close
    first = tuple(np.argwhere(bad)[0])
    err = np.abs(got_arr.astype(np.float64) - want.astype(np.float64))
    err[~np.isfinite(err)] = np.inf
    worst = np.unravel_index(np.argmax(np.where(bad, err, -1)), want.shape)
    report = [
        f"values differ at {_fmt_index(first)}: got {_fmt_value(got_arr[first])}, "
        f"expected {_fmt_value(want[first])}.",
        f"{int(bad.sum())} of {bad.size} values differ; the largest error is "
        f"{_fmt_value(err[worst])} at {_fmt_index(worst)}.",
    ]
    if not exact and np.isfinite(err[worst]):
        report[-1] += f" (tolerance: rtol={rtol:g}, atol={atol:g})"
    return fail(*report, *_value_hints(got_arr, want, rtol, atol))


# --------------------------------------------------------------------------
# Forbidding library shortcuts
# --------------------------------------------------------------------------


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


# --------------------------------------------------------------------------
# check_function
# --------------------------------------------------------------------------


def case(*args, label: str | None = None, **kwargs) -> dict:
    """One test case for :func:`check_function`: positional and keyword arguments."""
    return {"args": args, "kwargs": kwargs, "label": label}


def _copy(value):
    return value.copy() if isinstance(value, np.ndarray) else value


def _call_text(fn_name: str, the_case: dict) -> str:
    parts = [_describe(a) for a in the_case["args"]]
    parts += [f"{k}={_describe(v)}" for k, v in the_case["kwargs"].items()]
    text = f"{fn_name}({', '.join(parts)})"
    return f"{the_case['label']}: {text}" if the_case.get("label") else text


def _error_lines(error: BaseException, fn: Callable) -> list[str]:
    """Two lines on an exception raised by the student's function: what and where (one line for a
    step not written yet: the release's ``raise NotImplementedError()``)."""
    if isinstance(error, NotImplementedError):
        return [f"{getattr(fn, '__name__', 'this step')} is not implemented yet: replace "
                "`raise NotImplementedError()` with your code."]
    frames = traceback.extract_tb(error.__traceback__)
    code = getattr(fn, "__code__", None)
    theirs = [f for f in frames if code is not None and f.filename == code.co_filename]
    frame = theirs[-1] if theirs else (frames[-1] if frames else None)
    lines = [f"raised {type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"]
    if frame is not None:
        source = frame.line or linecache.getline(frame.filename, frame.lineno).strip()
        where = "your code" if theirs else frame.filename
        offset = f"line {frame.lineno - code.co_firstlineno + 1} of {fn.__name__}" if theirs else f"line {frame.lineno}"
        lines.append(f"in {where}, {offset}: {source}")
    return lines


def check_function(
    name: str,
    fn: Callable,
    cases: Iterable[dict],
    reference: Callable,
    *,
    rtol: float = 1e-5,
    atol: float = 1e-8,
    check_dtype: bool = False,
    hint: str | None = None,
    suspects: Callable[..., Mapping[str, Any]] | None = None,
    guard: Callable[[], Any] | None = None,
    verbose: bool = True,
    strict: bool = False,
) -> Check:
    """Run ``fn`` on each case and compare with ``reference`` on the same arguments.

    ``reference`` and ``suspects`` are usually the recorded outputs of
    ``coursekit.checks._recorded.recorded``: no lab's reference implementation ships with coursekit.

    Stops at the first failing case and says which one it was. ``suspects(*args,
    **kwargs)`` returns ``{hint: wrong_result}`` for known mistakes (see
    :func:`compare`). ``guard`` is a context-manager factory (e.g.
    :func:`no_library_convolution`) that the student's call runs inside. The
    student's inputs are copies, and a function that changes them is reported.
    """
    fn_name = getattr(fn, "__name__", name)
    cases = list(cases)

    def fail(*reasons):
        return _finish(Check(name, False, reasons), verbose, strict)

    if not callable(fn):
        return fail(f"{fn_name} is a {type(fn).__name__}, not a function.")
    for number, the_case in enumerate(cases, 1):
        args = tuple(_copy(a) for a in the_case["args"])
        kwargs = {k: _copy(v) for k, v in the_case["kwargs"].items()}
        where = f"case {number} of {len(cases)}, {_call_text(fn_name, the_case)}"
        manager = guard() if guard is not None else contextlib.nullcontext()
        try:
            with manager as watch:
                got = fn(*args, **kwargs)
        except NotImplementedError:
            return fail(f"{fn_name} is not implemented yet: replace `raise NotImplementedError()` "
                        "with your code.")
        except Exception as error:  # noqa: BLE001 - any student error becomes a report
            forbidden = watch.blocked(error) if guard is not None and hasattr(watch, "blocked") else None
            if forbidden:
                return fail(where, f"your function calls {forbidden}: {getattr(watch, 'reason', '')}")
            return fail(where, *_error_lines(error, fn))
        if guard is not None and hasattr(watch, "blocked") and watch.blocked(None):
            return fail(where, f"your function calls {watch.blocked(None)}: {watch.reason}")
        for original, given in zip(the_case["args"], args):
            if isinstance(original, np.ndarray) and not np.array_equal(original, given):
                return fail(where, f"{fn_name} changed one of its input arrays in place; "
                            "work on a copy (or write into a new output array).")
        try:
            expected = reference(*the_case["args"], **the_case["kwargs"])
        except NotRecorded as missing:
            return fail(where, str(missing))
        wrong = suspects(*the_case["args"], **the_case["kwargs"]) if suspects else None
        result = compare(name, got, expected, rtol=rtol, atol=atol, hint=hint,
                         check_dtype=check_dtype, suspects=wrong, context=where, verbose=False)
        if not result:
            return _finish(result, verbose, strict)
    return _finish(Check(name, True, [f"{len(cases)} case{'s' * (len(cases) != 1)}"]), verbose, strict)


# --------------------------------------------------------------------------
# check_model
# --------------------------------------------------------------------------


def _flat_layers(model):
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _flat_layers(layer)
        elif type(layer).__name__ != "InputLayer":
            yield layer


def _layer_formula(layer) -> str:
    """How a layer's parameter count arises, for the layers a lab usually has."""
    weights = [tuple(int(d) for d in w.shape) for w in layer.weights]
    return " + ".join("x".join(str(d) for d in shape) for shape in weights) or "no weights"


def check_model(name: str, model, expected, *, verbose: bool = True, strict: bool = False) -> Check:
    """Compare a Keras model with the expected structure, layer by layer.

    ``expected`` lists one ``(layer type, output shape without the batch axis,
    parameter count)`` per layer, input layer left out, nested models flattened;
    ``None`` in a position skips that comparison. Reports the first difference with
    the layer's name and, for parameter counts, the shapes of its weights. ``model`` may be a
    function of no arguments that builds it (``lambda: tiny_net(True)``): an error raised while
    it builds is then reported, not raised.
    """
    expected = [tuple(row) for row in expected]

    def fail(*reasons):
        return _finish(Check(name, False, reasons), verbose, strict)

    if callable(model) and not hasattr(model, "layers"):
        build = model
        try:
            model = build()
        except Exception as error:  # noqa: BLE001 - any student error becomes a report
            return fail(*_error_lines(error, build))
    if model is None or not hasattr(model, "layers"):
        return fail(f"expected a Keras model, got {type(model).__name__}: did you forget to return it?")
    layers = list(_flat_layers(model))
    kinds = [type(layer).__name__ for layer in layers]
    if len(layers) != len(expected):
        return fail(f"{len(layers)} layers but expected {len(expected)}.",
                    f"yours:    {', '.join(kinds) or 'none'}",
                    f"expected: {', '.join(str(row[0]) for row in expected)}")
    for number, (layer, (kind, shape, params)) in enumerate(zip(layers, expected), 1):
        where = f"layer {number} ({layer.name})"
        if kind is not None and type(layer).__name__ != kind:
            return fail(f"{where} is a {type(layer).__name__} but expected a {kind}.")
        if shape is not None:
            try:
                got_shape = tuple(layer.output.shape)[1:]
            except (AttributeError, ValueError):
                return fail(f"{where} has no output shape yet: start the model with keras.Input(shape=...).")
            if tuple(got_shape) != tuple(shape):
                same_grid = len(got_shape) == len(shape) and tuple(got_shape)[:-1] == tuple(shape)[:-1]
                return fail(f"{where}: output shape {_fmt_shape(got_shape)} but expected {_fmt_shape(shape)}.",
                            "check its number of filters (or units)." if same_grid else
                            "check its kernel size, strides and padding, and the layers before it.")
        if params is not None and layer.count_params() != params:
            return fail(f"{where}: {layer.count_params():,} parameters but expected {params:,} "
                        f"(its weights: {_layer_formula(layer)}).",
                        "check its number of units or filters, its kernel size and use_bias, "
                        "and how many channels reach it.")
    total = sum(layer.count_params() for layer in layers)
    return _finish(Check(name, True, [f"{len(layers)} layers, {total:,} parameters"]), verbose, strict)


# --------------------------------------------------------------------------
# Quiz answers, checked without revealing them
# --------------------------------------------------------------------------


def _fingerprint(name: str, value) -> str | None:
    """A one-way digest of a numeric answer, rounded to one decimal."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number):
        return None
    text = f"cnn-course:{name}:{round(number, 1):.1f}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def answer_key(answers: Mapping[str, Any]) -> dict[str, str]:
    """The key that :func:`check_answers` takes, made from the right answers (for a lab's author)."""
    return {name: _fingerprint(name, value) for name, value in answers.items()}


def check_answers(name: str, namespace: Mapping[str, Any], key: Mapping[str, str], *,
                  verbose: bool = True, strict: bool = False) -> Check:
    """Say how many quiz answers are wrong (and which), without revealing the right ones.

    ``namespace`` is where the answers live (``globals()`` in a notebook), ``key`` comes
    from :func:`answer_key`. Numbers are compared rounded to one decimal.
    """
    missing = [n for n in key if n not in namespace]
    if missing:
        return _finish(Check(name, False, [f"define {', '.join(missing)} in the cell above."]), verbose, strict)
    wrong = [n for n, digest in key.items() if _fingerprint(n, namespace[n]) != digest]
    if not wrong:
        return _finish(Check(name, True, [f"{len(key)} answers"]), verbose, strict)
    return _finish(Check(name, False, [f"{len(wrong)} of {len(key)} answers are wrong: {', '.join(wrong)}.",
                                       "Numbers are compared rounded to one decimal."]), verbose, strict)


