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

For the convolution lab: :func:`conv_reference` (``tf.nn.conv2d``) and
:func:`check_conv`, which knows the usual mistakes (kernel flipped, bias
forgotten, off-by-one sizes, TensorFlow's asymmetric "same" padding).
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

__all__ = [
    "Check",
    "case",
    "compare",
    "check_function",
    "check_conv",
    "check_model",
    "conv_reference",
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
    if verbose:
        check.show()
    if strict:
        check.require()
    return check


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
    """Two lines on an exception raised by the student's function: what and where."""
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
        expected = reference(*the_case["args"], **the_case["kwargs"])
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
    the layer's name and, for parameter counts, the shapes of its weights.
    """
    expected = [tuple(row) for row in expected]

    def fail(*reasons):
        return _finish(Check(name, False, reasons), verbose, strict)

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


# --------------------------------------------------------------------------
# Convolution (lab 1)
# --------------------------------------------------------------------------


def _same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow's 'same': output ceil(size / stride); the odd pixel goes after."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _pads(padding, x_shape, w_shape, stride):
    (h, w), (kh, kw) = x_shape[:2], w_shape[:2]
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return (0, 0), (0, 0)
        if mode == "same":
            return _same_padding(h, kh, stride), _same_padding(w, kw, stride)
        raise ValueError(f"padding must be an int, 'valid' or 'same', not {padding!r}")
    p = int(padding)
    return (p, p), (p, p)


def conv_reference(x, w, b=None, stride: int = 1, padding=0) -> np.ndarray:
    """Deep-learning convolution (cross-correlation) of one image, via ``tf.nn.conv2d``.

    ``x`` is (H, W, C) (or (H, W) for one channel), ``w`` is (kh, kw, C, F) as in
    Keras (or (kh, kw, C) for one output map, (kh, kw) when x is (H, W)), ``b`` is
    (F,) or None. ``padding`` is an int (zeros on every side), "valid" or "same"
    (TensorFlow's). The result keeps the layout: (H', W', F), (H', W') for one map.
    Computed in float64, returned as ``np.result_type`` of the inputs.
    """
    import tensorflow as tf

    x = np.asarray(x)
    w = np.asarray(w)
    dtype = np.result_type(x, w, *(() if b is None else (np.asarray(b),)))
    x4, w4, squeeze = x, w, False
    if x.ndim == 2 and w.ndim == 2:
        x4, w4, squeeze = x[:, :, None], w[:, :, None, None], True
    elif x.ndim == 3 and w.ndim == 3:
        w4, squeeze = w[..., None], True
    if x4.ndim != 3 or w4.ndim != 4 or x4.shape[2] != w4.shape[2]:
        raise ValueError(f"conv_reference: x {x.shape} and w {w.shape} do not fit together")
    (pt, pb), (pl, pr) = _pads(padding, x4.shape, w4.shape, stride)
    out = tf.nn.conv2d(
        tf.constant(x4[None], tf.float64), tf.constant(w4, tf.float64),
        strides=int(stride), padding=[[0, 0], [pt, pb], [pl, pr], [0, 0]],
    ).numpy()[0]
    if b is not None:
        out = out + np.asarray(b, np.float64)
    if squeeze:
        out = out[..., 0]
    return out.astype(dtype) if dtype.kind in "fc" else out


# The worked example of Dumoulin & Visin's guide to convolution arithmetic, fig. 1.1.
DUMOULIN_X = np.array([[3, 3, 2, 1, 0], [0, 0, 1, 3, 1], [3, 1, 2, 2, 3], [2, 0, 0, 2, 2], [2, 0, 0, 0, 1]],
                      dtype=np.float64)
DUMOULIN_K = np.array([[0, 1, 2], [2, 2, 0], [0, 1, 2]], dtype=np.float64)
DUMOULIN_Y = np.array([[12, 12, 17], [10, 17, 19], [9, 6, 14]], dtype=np.float64)

_SHAPE_HINT = {
    "single": "a valid convolution of an (H, W) image with a (kh, kw) kernel has H - kh + 1 rows and "
              "W - kw + 1 columns: loop with range(H - kh + 1).",
    "multi": "x is (H, W, C) and k is (kh, kw, C): one output map of shape (H - kh + 1, W - kw + 1); "
             "sum over the channels as well.",
    "filters": "x is (H, W, C), w is (kh, kw, C, F) and b is (F,): the output is "
               "(H - kh + 1, W - kw + 1, F), one map per filter.",
    "full": "pad first (np.pad with zeros), then the output has (H + pt + pb - kh) // stride + 1 rows; "
            "'same' gives ceil(H / stride) rows, with the odd padding pixel at the bottom/right.",
}


def _conv_cases(stage: str, rng: np.random.Generator) -> list[dict]:
    def arr(*shape, dtype=np.float64):
        return rng.normal(size=shape).astype(dtype)

    if stage == "single":
        return [
            case(DUMOULIN_X, DUMOULIN_K, label="the worked example (5x5 input, 3x3 kernel)"),
            case(arr(6, 8), arr(3, 2), label="non-square input and kernel"),
            case(arr(5, 4, dtype=np.float32), arr(2, 2, dtype=np.float32), label="float32"),
            case(arr(4, 5), arr(4, 5), label="kernel as large as the input"),
            case(arr(3, 4), arr(1, 1), label="1x1 kernel"),
        ]
    if stage == "multi":
        return [
            case(arr(5, 5, 3), arr(3, 3, 3), label="RGB-like input"),
            case(arr(6, 4, 1), arr(2, 3, 1), label="one channel"),
            case(arr(5, 6, 4, dtype=np.float32), arr(3, 2, 4, dtype=np.float32), label="float32, 4 channels"),
        ]
    if stage == "filters":
        return [
            case(arr(5, 5, 3), arr(3, 3, 3, 2), arr(2), label="3 in maps, 2 out maps, 3x3 kernels"),
            case(arr(6, 7, 2), arr(2, 3, 2, 4), arr(4), label="non-square, 4 filters"),
            case(arr(4, 4, 1, dtype=np.float32), arr(1, 1, 1, 3, dtype=np.float32),
                 arr(3, dtype=np.float32), label="float32, 1x1 kernels"),
        ]
    if stage == "full":
        return [
            case(arr(5, 5, 1), arr(3, 3, 1, 1), arr(1), label="the default: stride 1, no padding"),
            case(arr(5, 5, 2), arr(3, 3, 2, 2), arr(2), stride=2, padding=1, label="stride 2, padding 1"),
            case(arr(7, 6, 3), arr(3, 2, 3, 2), arr(2), stride=1, padding="same", label="'same', stride 1"),
            case(arr(6, 6, 1), arr(2, 2, 1, 1), arr(1), padding="same", label="'same' with an even kernel"),
            case(arr(7, 8, 2), arr(3, 3, 2, 3), arr(3), stride=2, padding="same", label="'same', stride 2"),
            case(arr(8, 7, 2), arr(3, 3, 2, 1), arr(1), stride=3, padding="valid", label="'valid', stride 3"),
        ]
    raise ValueError(f"stage must be one of {sorted(_SHAPE_HINT)}, not {stage!r}")


def _conv_suspects(stage: str):
    flip_hint = ("did you flip the kernel? Deep-learning 'convolution' is cross-correlation: "
                 "multiply each patch by the kernel as it is, without flipping it.")

    def suspects(x, w, b=None, stride=1, padding=0):
        x, w = np.asarray(x), np.asarray(w)
        found = {flip_hint: conv_reference(x, w[::-1, ::-1], b, stride, padding)}
        if w.shape[0] == w.shape[1] and w.shape[0] > 1:
            found["did you swap the kernel's rows and columns (k[j, i] instead of k[i, j])?"] = \
                conv_reference(x, np.swapaxes(w, 0, 1), b, stride, padding)
        if b is not None:
            found["did you forget to add the bias b?"] = conv_reference(x, w, None, stride, padding)
        if isinstance(padding, str) and padding.lower() == "same":
            kh, kw = w.shape[:2]
            (pt, pb), (pl, pr) = _pads("same", x.shape, w.shape, stride)
            if (pt, pl) != (pb, pr):
                xp = np.pad(x, ((pb, pt), (pr, pl), (0, 0)))
                found["for 'same' with an odd amount of padding, TensorFlow puts the extra row/column "
                      "at the bottom/right, not at the top/left."] = conv_reference(xp, w, b, stride, 0)
        return found

    return suspects


def check_conv(fn: Callable, stage: str, *, seed: int = 0, rtol: float = 1e-5,
               verbose: bool = True, strict: bool = False) -> Check:
    """Self-check for lab 1: compare ``fn`` with ``tf.nn.conv2d`` on a few cases.

    ``stage`` is "single" (``fn(x, k)``, x (H, W), k (kh, kw)), "multi" (x (H, W, C),
    k (kh, kw, C)), "filters" (``fn(x, w, b)``, w (kh, kw, C, F), b (F,)) or "full"
    (``fn(x, w, b, stride=..., padding=...)``). The result must have the dtype of
    the inputs. Library convolutions (and TensorFlow) are blocked while ``fn`` runs.
    """
    cases = _conv_cases(stage, np.random.default_rng(seed))
    result = check_function(
        f"conv2d_{stage}", fn, cases, conv_reference,
        rtol=rtol, atol=1e-6, check_dtype=True, suspects=_conv_suspects(stage),
        guard=no_library_convolution, verbose=False,
    )
    if not result and any(line.startswith("shape ") for line in result.lines):
        result.lines.append(f"Hint: {_SHAPE_HINT[stage]}")
    return _finish(result, verbose, strict)


# --------------------------------------------------------------------------
# Padding, stride, dilation and receptive fields (lab 2)
# --------------------------------------------------------------------------
# The references below use coursekit.arith where it has the answer, and say in a hint
# which usual mistake a wrong answer matches: symmetric "same" padding, flooring in the
# wrong place, dilation left out of the kernel's span, a receptive-field jump not multiplied.

_DILATION_HINT = ("did you forget the dilation? A kernel of k taps with dilation d spans "
                  "(k - 1) * d + 1 pixels: use that span wherever the kernel size appears.")


def _span(kernel: int, dilation: int) -> int:
    return (int(kernel) - 1) * int(dilation) + 1


def same_pads(size: int, kernel: int, stride: int = 1, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow's "same" padding along one axis, (before, after): the odd pixel goes after."""
    return _same_padding(size, _span(kernel, dilation), stride)


def _pad_pair(padding, size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """(before, after) for an int (each side), "valid", "same" or "full"."""
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "same":
            return same_pads(size, kernel, stride, dilation)
        if mode == "full":
            return (_span(kernel, dilation) - 1,) * 2
        if mode == "valid":
            return 0, 0
        raise ValueError(f"padding must be an int, 'valid', 'same' or 'full', not {padding!r}")
    return int(padding), int(padding)


def dilated_conv_reference(x, w, b=None, stride: int = 1, padding=0, dilation: int = 1) -> np.ndarray:
    """:func:`conv_reference` with dilation and "full" padding too (x (H, W, C), w (kh, kw, C, F)).

    A dilated kernel is the kernel with ``dilation - 1`` zeros between its taps, so this
    spreads the taps out and pads explicitly, then calls :func:`conv_reference`.
    """
    x, w = np.asarray(x), np.asarray(w)
    (kh, kw), d = w.shape[:2], int(dilation)
    spread = np.zeros((_span(kh, d), _span(kw, d), *w.shape[2:]), dtype=w.dtype)
    spread[::d, ::d] = w
    pads = [_pad_pair(padding, x.shape[0], kh, stride, d), _pad_pair(padding, x.shape[1], kw, stride, d)]
    return conv_reference(np.pad(x, pads + [(0, 0)] * (x.ndim - 2)), spread, b, stride, 0)


def _output_size_reference(n, k, stride=1, padding=0, dilation=1):
    from coursekit import arith

    return arith.conv_output_size(n, k, stride, padding, dilation)


def _output_size_suspects(n, k, stride=1, padding=0, dilation=1):
    before, after = _pad_pair(padding, n, k, stride, dilation)
    span, found = _span(k, dilation), {}
    if dilation > 1:
        found[_DILATION_HINT] = (n + before + after - k) // stride + 1
    if stride > 1:
        found["round down once, at the end: floor((n + 2p - span) / stride) + 1, not ceil and not "
              "floor((n + 2p) / stride) - ..."] = math.ceil((n + before + after - span) / stride) + 1
    if isinstance(padding, str) and padding == "same" and stride > 1:
        found["'same' keeps ceil(n / stride) pixels, not n: the stride still divides."] = n
    return found


def _raises(fn, args, error=ValueError) -> bool:
    try:
        fn(*args)
    except error:
        return True
    except Exception:  # noqa: BLE001 - another error is a failure, reported as such
        return False
    return False


def check_output_size(fn: Callable, *, verbose: bool = True, strict: bool = False) -> Check:
    """Self-check for lab 2's ``output_size(n, k, stride, padding, dilation)``, against ``coursekit.arith``."""
    cases = [case(5, 3, label="3x3 patches in a 5x5 map"), case(32, 5, label="a 5x5 kernel on 32x32"),
             case(7, 3, 2, label="stride 2"), case(5, 3, 2, 1, label="the seed's padding 1, stride 2"),
             case(224, 11, 4, label="a stride that does not divide"),
             case(7, 4, 2, "same", label="'same', stride 2"), case(10, 3, 1, "full", label="'full'"),
             case(10, 3, 1, "valid", 2, label="dilation 2"), case(9, 3, 2, "same", 3, label="all at once")]
    result = check_function("output_size", fn, cases, _output_size_reference,
                            suspects=_output_size_suspects, verbose=False)
    if result:
        for args, why in [((5, 3, 1, "middle"), "an unknown padding name"),
                          ((4, 7), "a kernel larger than the padded input")]:
            if not _raises(fn, args):
                result = Check("output_size", False, [f"output_size{args}: {why} must raise ValueError."])
                break
    return _finish(result, verbose, strict)


def _same_padding_suspects(n, k, stride=1, dilation=1):
    before, after = same_pads(n, k, stride, dilation)
    total = before + after
    found = {"TensorFlow puts the odd row/column of padding after (bottom/right), not before.": (after, before)}
    if total % 2:
        found["'same' is not symmetric: when the total is odd, before = total // 2 and after gets "
              "the rest."] = (total // 2, total // 2)
    if dilation > 1:
        found[_DILATION_HINT] = same_pads(n, k, stride, 1)
    if stride > 1:
        found["the total depends on the stride: (ceil(n / s) - 1) * s + span - n, at least 0."] = \
            ((_span(k, dilation) - 1) // 2, _span(k, dilation) - 1 - (_span(k, dilation) - 1) // 2)
    return {hint: wrong for hint, wrong in found.items() if tuple(wrong) != (before, after)}


def check_same_padding(fn: Callable, *, verbose: bool = True, strict: bool = False) -> Check:
    """Self-check for lab 2's ``same_padding(n, k, stride, dilation)`` -> (before, after)."""
    cases = [case(5, 3, label="odd kernel"), case(5, 4, label="even kernel: an odd total"),
             case(224, 3, 2, label="224, stride 2"), case(7, 4, 2, label="stride 2, even kernel"),
             case(9, 3, 1, 2, label="dilation 2"), case(6, 1, 3, label="1x1 kernel, stride 3"),
             case(8, 5, 3, 2, label="all at once")]
    return check_function("same_padding", fn, cases, same_pads, suspects=_same_padding_suspects,
                          verbose=verbose, strict=strict)


def _python_lines(fn: Callable, *args, **kwargs) -> int:
    """How many lines of the student's own code run in one call (loops over pixels show up)."""
    code = getattr(fn, "__code__", None)
    count = 0

    def tracer(frame, event, arg):
        nonlocal count
        if code is not None and frame.f_code.co_filename == code.co_filename and event == "line":
            count += 1
        return tracer

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        fn(*args, **kwargs)
    finally:
        sys.settrace(previous)
    return count


def _im2col_suspects(x, w, b=None, stride=1, padding=0, dilation=1):
    found = {}
    if dilation > 1:
        found[_DILATION_HINT] = dilated_conv_reference(x, w, b, stride, padding, 1)
    if isinstance(padding, str) and padding == "same":
        (pt, pb), (pl, pr) = (same_pads(x.shape[i], w.shape[i], stride, dilation) for i in (0, 1))
        if (pt, pl) != (pb, pr):
            xp = np.pad(x, ((pb, pt), (pr, pl), (0, 0)))
            found["for 'same' with an odd amount of padding, the extra row/column goes at the "
                  "bottom/right."] = dilated_conv_reference(xp, w, b, stride, 0, dilation)
    if b is not None:
        found["did you forget to add the bias b?"] = dilated_conv_reference(x, w, None, stride, padding, dilation)
    found["did you flip the kernel? Multiply each window by the kernel as it is."] = \
        dilated_conv_reference(x, w[::-1, ::-1], b, stride, padding, dilation)
    return found


def check_im2col(fn: Callable, *, seed: int = 0, verbose: bool = True, strict: bool = False) -> Check:
    """Self-check for lab 2's ``conv2d_im2col(x, w, b, stride, padding, dilation)``.

    Compares with ``tf.nn.conv2d`` (dilation by a spread-out kernel), blocks library
    convolutions, and counts the lines of the student's code that run: a loop over the
    output pixels runs thousands, one matrix product a handful.
    """
    rng = np.random.default_rng(seed)

    def arr(*shape, dtype=np.float64):
        return rng.normal(size=shape).astype(dtype)

    cases = [case(arr(5, 5, 1), arr(3, 3, 1, 1), None, 2, 1, label="the seed's padding 1, stride 2"),
             case(arr(6, 7, 3), arr(3, 2, 3, 4), arr(4), label="the defaults: valid, stride 1"),
             case(arr(7, 8, 2), arr(4, 4, 2, 3), arr(3), 2, "same", label="'same' with an odd total"),
             case(arr(9, 9, 2), arr(3, 3, 2, 2), arr(2), 1, "valid", 2, label="dilation 2"),
             case(arr(10, 9, 2), arr(3, 3, 2, 2), None, 2, "same", 2, label="'same', stride 2, dilation 2"),
             case(arr(4, 5, 2), arr(2, 3, 2, 2), arr(2), 1, "full", label="'full'"),
             case(arr(6, 6, 3, dtype=np.float32), arr(3, 3, 3, 2, dtype=np.float32), arr(2, dtype=np.float32),
                  3, 2, label="float32, padding 2, stride 3")]
    result = check_function("conv2d_im2col", fn, cases, dilated_conv_reference, rtol=1e-5, atol=1e-6,
                            check_dtype=True, suspects=_im2col_suspects, guard=no_library_convolution,
                            verbose=False)
    if result:
        x, w = arr(34, 34, 1), arr(3, 3, 1, 1)
        lines = _python_lines(fn, x, w)
        if lines > 400:  # 32 x 32 outputs: a loop over them runs at least 1024 lines
            result = Check("conv2d_im2col", False, [
                f"{lines} lines of your code ran for a 34x34 input: it loops over the output pixels.",
                "Build all the windows at once (sliding_window_view, or fancy indexing), reshape them "
                "into a patch matrix, and do one matrix product."])
    return _finish(result, verbose, strict)


def receptive_field_reference(layers) -> tuple[int, int, float]:
    """(size, jump, start) after ``layers`` of (kernel, stride, dilation[, padding before]).

    ``start`` is the centre of the first unit's field, with input pixel i centred at i.
    """
    size, jump, start = 1, 1, 0.0
    for layer in layers:
        kernel, stride, dilation, padding = (*tuple(layer), 0)[:4]
        span = _span(kernel, dilation)
        start += ((span - 1) / 2 - int(padding)) * jump
        size += (span - 1) * jump
        jump *= int(stride)
    return size, jump, start


def _receptive_field_suspects(layers):
    size, jump, start = receptive_field_reference(layers)
    no_jump = receptive_field_reference([(k, 1, d, p) for k, _s, d, p in ((*tuple(l), 0)[:4] for l in layers)])
    no_dilation = receptive_field_reference([(k, s, 1, p) for k, s, _d, p in ((*tuple(l), 0)[:4] for l in layers)])
    return {
        "each layer adds (k - 1) * d units of the layer below, and they lie `jump` input pixels apart: "
        "multiply by the jump before updating it.": (no_jump[0], jump, start),
        _DILATION_HINT: no_dilation,
        "padding before the input moves the first window to the left: subtract padding * jump from "
        "the start.": receptive_field_reference([tuple(l)[:3] for l in layers]),
    }


def check_receptive_field(fn: Callable, *, verbose: bool = True, strict: bool = False) -> Check:
    """Self-check for lab 2's ``receptive_field(layers)`` -> (size, jump, start)."""
    def suspects(layers):
        want = receptive_field_reference(layers)
        return {h: w for h, w in _receptive_field_suspects(layers).items() if tuple(w) != tuple(want)}

    cases = [case([], label="no layers"), case([(3, 1, 1)] * 6, label="six 3x3 convolutions"),
             case([(3, 1, 1), (2, 2, 1)] * 3, label="three conv3x3-pool2x2 blocks"),
             case([(3, 1, 1), (3, 1, 2), (3, 1, 4), (3, 1, 8)], label="dilations 1, 2, 4, 8"),
             case([(7, 2, 1, 3), (3, 2, 1, 1), (3, 1, 1, 1)], label="ResNet-like stem, with padding")]
    return check_function("receptive_field", fn, cases, receptive_field_reference, suspects=suspects,
                          verbose=verbose, strict=strict)


def rf_design_problems(design, *, size_in: int = 224, size_out: int = 7, min_field: int = 100,
                       budget: int = 60_000, channels_in: int = 3, filters: int = 32) -> str | None:
    """What is wrong with a design (a list of (kernel, stride) "same" Conv2D layers), or None.

    Every layer has ``filters`` filters with biases; the first sees ``channels_in`` channels.
    Used by the self-check and, in the trusted grader, on the values a submission returned.
    """
    try:
        layers = np.asarray(design)
    except Exception:  # noqa: BLE001 - anything that is not a table of numbers
        layers = np.asarray(None)
    if layers.ndim != 2 or layers.shape[1] != 2 or not len(layers) or layers.dtype.kind not in "iuf":
        return "design must be a non-empty list of (kernel, stride) pairs of ints"
    if not np.all(np.isfinite(layers)) or np.any(layers != np.round(layers)) or np.any(layers < 1):
        return "kernel sizes and strides must be whole numbers >= 1"
    if len(layers) > 50 or np.any(layers > 64):
        return "keep it small: at most 50 layers, kernels and strides at most 64"
    size, field, jump, params, channels = size_in, 1, 1, 0, channels_in
    for kernel, stride in layers.astype(int).tolist():
        size = math.ceil(size / stride)
        field, jump = field + (kernel - 1) * jump, jump * stride
        params += kernel * kernel * channels * filters + filters
        channels = filters
    problems = []
    if size != size_out:
        problems.append(f"the output is {size}x{size}, not {size_out}x{size_out}")
    if field < min_field:
        problems.append(f"the receptive field is {field}, less than {min_field}")
    if params > budget:
        problems.append(f"{params:,} parameters, over the budget of {budget:,}")
    return "; ".join(problems) or None


def check_rf_design(design, *, verbose: bool = True, strict: bool = False, **constraints) -> Check:
    """Self-check for lab 2's design question: the constraints that the grader checks, one by one."""
    problem = rf_design_problems(design, **constraints)
    lines = [problem[0].upper() + problem[1:] + "."] if problem else ["every constraint is met"]
    return _finish(Check("rf_design", problem is None, lines), verbose, strict)


# --------------------------------------------------------------------------
# Pooling (lab 3)
# --------------------------------------------------------------------------

__all__ += [
    "pool_reference", "pool_backward_reference", "numeric_gradient", "relative_error",
    "check_pool_forward", "check_pool_backward", "check_global_average_pool",
    "check_max_pool_by_conv", "check_shift_experiment",
]


def _pool_op(kind: str):
    import tensorflow as tf

    ops = {"max": tf.nn.max_pool2d, "avg": tf.nn.avg_pool2d}
    if kind not in ops:
        raise ValueError(f"kind must be 'max' or 'avg', not {kind!r}")
    return ops[kind]


def _float_dtype(x: np.ndarray):
    return x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)


def pool_reference(x, size: int, stride: int, kind: str = "max") -> np.ndarray:
    """Max or average pooling of x (N, H, W, C) by TensorFlow, no padding.

    Computed in float64, returned in x's float dtype (float64 for integers).
    """
    import tensorflow as tf

    x = np.asarray(x)
    # tf.constant with an explicit dtype: a NumPy float64 array given to tf.nn.max_pool2d
    # as it is would be computed in float32.
    inputs = tf.constant(x, dtype=tf.float64)
    return np.asarray(_pool_op(kind)(inputs, int(size), int(stride), "VALID")).astype(_float_dtype(x))


def pool_backward_reference(dout, x, size: int, stride: int, kind: str = "max") -> np.ndarray:
    """dL/dx for L = sum(dout * pool(x)), by ``tf.GradientTape``, in x's float dtype.

    Where several inputs of a window tie for the maximum, TensorFlow gives the whole
    gradient to the first of them in row-major order (``np.argmax`` of the flat window).
    """
    import tensorflow as tf

    x = np.asarray(x)
    inputs = tf.constant(x.astype(np.float64))
    upstream = tf.constant(np.asarray(dout, dtype=np.float64))
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        pooled = _pool_op(kind)(inputs, int(size), int(stride), "VALID")
        loss = tf.reduce_sum(upstream * pooled)
    return tape.gradient(loss, inputs).numpy().astype(_float_dtype(x))


def numeric_gradient(f: Callable, x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Central differences of the scalar function f at x (CS231n style), in float64."""
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        saved = x[index]
        x[index] = saved + h
        above = f(x)
        x[index] = saved - h
        below = f(x)
        x[index] = saved
        grad[index] = (above - below) / (2 * h)
    return grad


def relative_error(a, b) -> float:
    """max |a - b| / max(|a| + |b|, tiny): CS231n's measure for gradient checks."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(1e-12, np.abs(a) + np.abs(b))))


_CS231N_MAP = np.array([[1, 1, 2, 4], [5, 6, 7, 8], [3, 2, 1, 0], [1, 2, 3, 4]], dtype=np.float64)


def _pool_geometries():
    """(input shape, size, stride): non-overlapping, odd sides, overlapping, stride > size."""
    return [((2, 6, 6, 3), 2, 2), ((1, 7, 5, 2), 2, 2), ((2, 9, 8, 3), 3, 2),
            ((1, 5, 6, 1), 2, 1), ((1, 9, 9, 2), 2, 3), ((2, 4, 4, 3), 4, 4)]


def _pool_cases(rng: np.random.Generator, backward: bool) -> list[dict]:
    inputs = [(_CS231N_MAP[None, :, :, None], 2, 2, "the 4x4 example of the chapter")]
    inputs += [(rng.normal(size=shape), size, stride, f"{shape}, size {size}, stride {stride}")
               for shape, size, stride in _pool_geometries()]
    ties = rng.integers(0, 3, size=(2, 6, 6, 2)).astype(np.float64)
    inputs += [(ties, 2, 2, "ties (equal values in a window)"), (ties, 3, 1, "ties, overlapping windows"),
               (rng.normal(size=(2, 5, 7, 3)).astype(np.float32), 2, 2, "float32 stays float32")]
    cases = []
    for x, size, stride, label in inputs:
        if backward:
            out_h, out_w = (x.shape[1] - size) // stride + 1, (x.shape[2] - size) // stride + 1
            dout = rng.normal(size=(x.shape[0], out_h, out_w, x.shape[3])).astype(x.dtype)
            cases.append(case(dout, x, size, stride, label=label))
        else:
            cases.append(case(x, size, stride, label=label))
    return cases


_POOL_HINT = ("the output has (H - size) // stride + 1 rows and (W - size) // stride + 1 columns; "
              "window (i, j) covers rows i*stride ... i*stride + size - 1 of every map, "
              "and each map (the last axis) is pooled on its own.")
_BACKWARD_HINT = {
    "max": "each upstream value goes whole to the input that won its window, the first maximum in "
           "row-major order when several tie (np.argmax of the flattened window); windows that "
           "overlap add (+=) their gradients.",
    "avg": "each upstream value is shared equally, dout / size**2, by the inputs of its window; "
           "windows that overlap add (+=) their gradients.",
}


def check_pool_forward(fn: Callable, kind: str = "max", *, seed: int = 0,
                       verbose: bool = True, strict: bool = False) -> Check:
    """Self-check for lab 3: ``fn(x, size, stride)`` against ``tf.nn.max_pool2d`` or
    ``tf.nn.avg_pool2d`` (``kind`` "max" or "avg") on several shapes, ties and dtypes."""
    cases = _pool_cases(np.random.default_rng(seed), backward=False)
    return check_function(
        f"{kind}_pool_forward", fn, cases, lambda x, size, stride: pool_reference(x, size, stride, kind),
        rtol=1e-6, atol=1e-6, check_dtype=True, hint=_POOL_HINT, verbose=verbose, strict=strict)


def check_pool_backward(fn: Callable, kind: str = "max", *, seed: int = 0,
                        verbose: bool = True, strict: bool = False) -> Check:
    """Self-check for lab 3: ``fn(dout, x, size, stride)`` against ``tf.GradientTape``
    through TensorFlow's pooling, then against a numeric gradient in float64
    (relative error below 1e-8, CS231n style)."""
    name = f"{kind}_pool_backward"
    rng = np.random.default_rng(seed)
    result = check_function(
        name, fn, _pool_cases(rng, backward=True),
        lambda dout, x, size, stride: pool_backward_reference(dout, x, size, stride, kind),
        rtol=1e-6, atol=1e-6, check_dtype=True, hint=_BACKWARD_HINT[kind], verbose=False)
    if not result:
        return _finish(result, verbose, strict)
    x = rng.permutation(2 * 7 * 7 * 2).reshape(2, 7, 7, 2) / 100.0  # 0.01 apart: no ties within h
    dout = rng.normal(size=(2, 3, 3, 2))
    try:
        analytic = np.asarray(fn(dout, x.copy(), 3, 2), dtype=np.float64)
    except Exception as error:  # noqa: BLE001 - any student error becomes a report
        return _finish(Check(name, False, _error_lines(error, fn)), verbose, strict)
    numeric = numeric_gradient(lambda v: float(np.sum(dout * pool_reference(v, 3, 2, kind))), x)
    error = relative_error(analytic, numeric)
    if not error < 1e-8:
        return _finish(Check(name, False, [f"relative error {error:.1e} against a numeric gradient "
                                           "(3x3 windows, stride 2, no ties); it must be below 1e-8.",
                                           f"Hint: {_BACKWARD_HINT[kind]}"]), verbose, strict)
    return _finish(Check(name, True, [f"{len(result.lines) and result.lines[0]}",
                                      f"relative error {error:.0e} against a numeric gradient"]),
                   verbose, strict)


def check_global_average_pool(fn: Callable, *, seed: int = 0, verbose: bool = True,
                              strict: bool = False) -> Check:
    """Self-check for lab 3: ``fn(x)`` for x (N, H, W, C) must equal the mean over H and W, (N, C)."""
    rng = np.random.default_rng(seed)
    cases = [case(rng.normal(size=(2, 5, 7, 3))), case(rng.normal(size=(1, 1, 1, 4))),
             case(rng.normal(size=(3, 4, 4, 8)).astype(np.float32), label="float32 stays float32")]

    def reference(x):
        import tensorflow as tf

        return np.asarray(tf.reduce_mean(tf.constant(x, dtype=tf.float64), axis=(1, 2))).astype(x.dtype)

    return check_function("global_average_pool", fn, cases, reference, rtol=1e-6, atol=1e-6,
                          check_dtype=True, hint="average over the height and width axes (1 and 2), "
                          "keep the batch and channel axes: (N, H, W, C) -> (N, C).",
                          verbose=verbose, strict=strict)


#: what 2x2 max pooling built from convolutions and ReLUs may not call
MAX_FUNCTIONS: dict[str, dict[str, str]] = {
    "tensorflow.python.ops.gen_nn_ops": {
        "max_pool": "tf.nn.max_pool2d", "max_pool_v2": "tf.nn.max_pool2d",
        "max_pool_with_argmax": "tf.nn.max_pool_with_argmax",
    },
    "tensorflow.python.ops.gen_math_ops": {"_max": "tf.reduce_max", "maximum": "tf.maximum"},
    "numpy": {"max": "np.max", "amax": "np.amax", "maximum": "np.maximum"},
}


def check_max_pool_by_conv(fn: Callable, *, seed: int = 0, verbose: bool = True,
                           strict: bool = False) -> Check:
    """Self-check for lab 3: ``fn(x)``, x (N, H, W, C) float32, must equal
    ``tf.nn.max_pool2d(x, 2, 2, "VALID")`` without calling any max function."""
    rng = np.random.default_rng(seed)
    ties = rng.integers(-2, 2, size=(2, 6, 6, 1)).astype(np.float32)
    cases = [case(rng.normal(size=(2, 8, 8, 3)).astype(np.float32)),
             case(rng.normal(size=(1, 7, 9, 2)).astype(np.float32), label="odd sides"),
             case(ties, label="ties and negative values")]
    return check_function(
        "max_pool_by_conv", fn, cases, lambda x: pool_reference(x, 2, 2, "max"),
        rtol=1e-5, atol=1e-6, check_dtype=True,
        hint="max(a, b) = b + relu(a - b): 2x2 kernels with stride 2 (tf.nn.depthwise_conv2d) pick "
             "one input of every window, or the difference of two; take the maximum of the top pair, "
             "of the bottom pair, then of those two.",
        guard=lambda: forbid(MAX_FUNCTIONS, reason="build the maximum from convolutions and ReLUs."),
        verbose=verbose, strict=strict)


def check_shift_experiment(fn: Callable, data, *, verbose: bool = True, strict: bool = False) -> Check:
    """Self-check for lab 3: ``fn(x_train, y_train, x_test, y_test, shift, epochs, seed)`` on a
    small part of ``data`` (MNIST, as from ``coursekit.data.load``) returns two accuracies,
    better than chance, and the same ones when run again with the same seed."""
    (x_train, y_train), (x_test, y_test) = data
    args = (x_train[:600], y_train[:600], x_test[:300], y_test[:300])
    try:
        runs = [np.asarray(fn(*args, shift=(0, 2), epochs=1, seed=1), dtype=np.float64) for _ in range(2)]
    except Exception as error:  # noqa: BLE001 - any student error becomes a report
        return _finish(Check("shift_experiment", False, _error_lines(error, fn)), verbose, strict)
    first = runs[0]
    if first.shape != (2,):
        return _finish(Check("shift_experiment", False, [
            f"returned shape {_fmt_shape(first.shape)}; expected (2,): the accuracy of the strided "
            "network, then of the pooled one."]), verbose, strict)
    if not np.all((first > 0.2) & (first <= 1.0)):
        return _finish(Check("shift_experiment", False, [
            f"accuracies {first.round(3).tolist()} after one epoch on 600 digits; expected between 0.2 "
            "and 1. Are the images scaled to [0, 1] and given a channel axis, and the loss from logits?"]),
            verbose, strict)
    if not np.array_equal(runs[0], runs[1]):
        return _finish(Check("shift_experiment", False, [
            f"two runs with the same seed gave {runs[0].round(4).tolist()} and {runs[1].round(4).tolist()}: "
            "call keras.utils.set_random_seed(seed) before building each network."]), verbose, strict)
    return _finish(Check("shift_experiment", True, [
        f"a quick run gave strided {first[0]:.3f}, pooled {first[1]:.3f}; seeded"]), verbose, strict)
