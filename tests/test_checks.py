"""coursekit.checks: the reports students see, the library blocking, the convolution checks."""

import math

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from coursekit import checks
from coursegrader.references.convolution import conv_reference

tf = pytest.importorskip("tensorflow")


# --------------------------------------------------------------------------
# Reference student solutions, right and wrong, written independently of checks.py
# --------------------------------------------------------------------------


def _pad_amounts(size, kernel, stride, padding):
    if padding == "valid":
        return 0, 0
    if padding == "same":
        total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
        return total // 2, total - total // 2
    return padding, padding


def good_conv(x, w, b=None, stride=1, padding=0):
    """Vectorised cross-correlation: x (H, W, C), w (kh, kw, C, F)."""
    kh, kw = w.shape[:2]
    pads = [_pad_amounts(x.shape[0], kh, stride, padding), _pad_amounts(x.shape[1], kw, stride, padding)]
    xp = np.pad(x, pads + [(0, 0)])
    windows = sliding_window_view(xp, (kh, kw), axis=(0, 1))[::stride, ::stride]  # (H', W', C, kh, kw)
    out = np.einsum("ijcmn,mncf->ijf", windows, w)
    if b is not None:
        out = out + b
    dtype = np.result_type(x, w) if b is None else np.result_type(x, w, b)
    return out.astype(dtype)


def good_single(x, k):
    return good_conv(x[:, :, None], k[:, :, None, None])[:, :, 0]


def good_multi(x, k):
    return good_conv(x, k[..., None])[:, :, 0]


def good_filters(x, w, b):
    return good_conv(x, w, b)


# --------------------------------------------------------------------------
# Check objects and compare
# --------------------------------------------------------------------------


def test_pass_is_truthy_and_prints_once(capsys):
    result = checks.compare("answer", np.arange(4.0), [0, 1, 2, 3])
    assert result and result.passed
    out = capsys.readouterr().out
    assert out.count("answer: PASS") == 1
    result._ipython_display_()  # the notebook display hook must not print it again
    assert capsys.readouterr().out == ""


def test_strict_raises_the_same_message():
    with pytest.raises(AssertionError, match="shape \\(2, 2\\) but expected \\(3, 3\\)"):
        checks.compare("conv", np.zeros((2, 2)), np.zeros((3, 3)), strict=True, verbose=False)
    assert not checks.compare("q", 1, 2, verbose=False)
    with pytest.raises(AssertionError):
        checks.compare("q", 1, 2, verbose=False).require()


@pytest.mark.parametrize("got, expected, needle", [
    (None, [1.0], "returned None: did you forget the `return`"),
    ([[1, 2], [3]], [1.0], "ragged"),
    (np.zeros((2, 3)), np.zeros((3, 2)), "axes look reversed"),
    (np.zeros((3, 1)), np.zeros((3,)), "axis of size 1"),
    (np.array([1.0, np.nan]), np.array([1.0, 2.0]), "NaN or infinite, the first at [1]"),
    (np.arange(9.0).reshape(3, 3).T, np.arange(9.0).reshape(3, 3), "transpose"),
    (-np.arange(1.0, 5.0), np.arange(1.0, 5.0), "opposite sign"),
    (np.arange(4.0) + 2.5, np.arange(4.0), "off by the same amount (2.5)"),
    (np.arange(1.0, 5.0) * 3, np.arange(1.0, 5.0), "3.0 times the expected one"),
])
def test_compare_diagnoses(got, expected, needle):
    result = checks.compare("x", got, expected, verbose=False)
    assert not result
    assert needle in result.message, result.message


def test_compare_reports_where_values_differ():
    want = np.zeros((3, 4))
    got = want.copy()
    got[1, 2], got[2, 3] = 0.5, -4.0
    message = checks.compare("m", got, want, verbose=False).message
    assert "values differ at [1, 2]: got 0.5, expected 0.0" in message
    assert "2 of 12 values differ; the largest error is 4.0 at [2, 3]" in message


def test_compare_dtype_tolerance_and_tensors():
    assert not checks.compare("d", np.zeros(3), np.zeros(3, np.float32), check_dtype=True, verbose=False)
    assert checks.compare("d", np.zeros(3), np.zeros(3, np.float32), verbose=False)
    assert checks.compare("t", np.float32(1.0) + 1e-7, 1.0, verbose=False)
    assert not checks.compare("t", 1.001, 1.0, verbose=False)
    assert checks.compare("tensor", tf.constant([1.0, 2.0]), [1.0, 2.0], verbose=False)
    assert not checks.compare("ints", np.array([3]), np.array([4]), rtol=1, verbose=False)  # ints are exact


def test_suspects_and_reveal():
    result = checks.compare("c", [2, 1], [1, 2], suspects={"reversed order?": [2, 1]}, verbose=False)
    assert "reversed order?" in result.message
    hidden = checks.compare("quiz", 208, 608, reveal=False, verbose=False)
    assert "208 is not right yet" in hidden.message and "608" not in hidden.message


# --------------------------------------------------------------------------
# check_function
# --------------------------------------------------------------------------


def test_check_function_reports_exceptions_in_two_lines():
    def broken(x):
        y = x + 1
        return y @ np.ones((7, 7))

    result = checks.check_function("f", broken, [checks.case(np.ones((2, 3)), label="small")],
                                   lambda x: x, verbose=False)
    assert not result
    assert "small: broken(array(2, 3) float64)" in result.message
    assert "raised ValueError" in result.message
    assert "line 3 of broken: return y @ np.ones((7, 7))" in result.message
    assert "Traceback" not in result.message


def test_check_function_not_implemented_and_in_place():
    def stub(x):
        raise NotImplementedError()

    def in_place(x):
        x *= 2
        return x

    assert "not implemented yet" in checks.check_function("f", stub, [checks.case(1)], lambda x: x,
                                                          verbose=False).message
    cases = [checks.case(np.ones(3))]
    message = checks.check_function("f", in_place, cases, lambda x: 2 * x, verbose=False).message
    assert "changed one of its input arrays in place" in message
    assert np.array_equal(cases[0]["args"][0], np.ones(3)), "the check must pass copies"


def test_check_function_stops_at_first_failing_case():
    cases = [checks.case(1, label="one"), checks.case(2, label="two"), checks.case(3, label="three")]
    result = checks.check_function("sq", lambda v: v * v if v < 2 else v, cases, lambda v: v * v, verbose=False)
    assert "case 2 of 3, two" in result.message
    ok = checks.check_function("sq", lambda v: v * v, cases, lambda v: v * v, verbose=False)
    assert ok and "3 cases" in ok.message


# --------------------------------------------------------------------------
# forbid
# --------------------------------------------------------------------------


def test_forbid_blocks_library_convolutions_however_imported():
    from scipy.signal import correlate2d, fftconvolve

    scipy_ndimage = pytest.importorskip("scipy.ndimage")
    x, k = np.ones((5, 5)), np.ones((3, 3))
    keras = pytest.importorskip("keras")
    attempts = {
        "scipy.signal.correlate2d": lambda: correlate2d(x, k, "valid"),
        "scipy.signal.fftconvolve": lambda: fftconvolve(x, k, "valid"),
        "scipy.ndimage.correlate": lambda: scipy_ndimage.correlate(x, k),
        "tf.nn.conv2d": lambda: tf.nn.conv2d(x[None, :, :, None], k[:, :, None, None], 1, "VALID"),
        "keras Conv2D": lambda: keras.layers.Conv2D(1, 3)(x[None, :, :, None]),
        "any TensorFlow op": lambda: tf.constant(x) * 2.0,
    }
    for name, attempt in attempts.items():
        with checks.no_library_convolution() as guard:
            with pytest.raises(Exception) as info:
                attempt()
        assert guard.blocked(info.value), name
    # everything is back to normal afterwards
    assert correlate2d(x, k, "valid").shape == (3, 3)
    assert tf.nn.conv2d(x[None, :, :, None], k[:, :, None, None], 1, "VALID").shape == (1, 3, 3, 1)
    assert tf.config.get_soft_device_placement()


def test_forbid_records_calls_even_when_the_error_is_swallowed():
    from scipy.signal import correlate2d

    def sneaky(x, k):
        try:
            return correlate2d(x, k, "valid")
        except Exception:  # noqa: BLE001
            return good_single(x, k)

    with checks.no_library_convolution() as guard:
        sneaky(np.ones((4, 4)), np.ones((2, 2)))
    assert guard.called == ["scipy.signal.correlate2d / convolve2d"]


def test_numpy_is_not_blocked():
    with checks.no_library_convolution() as guard:
        y = good_single(np.arange(25.0).reshape(5, 5), np.ones((3, 3)))
    assert y.shape == (3, 3) and not guard.called


# --------------------------------------------------------------------------
# Convolution checks
# --------------------------------------------------------------------------


def test_conv_reference_matches_the_worked_example_and_numpy():
    np.testing.assert_array_equal(conv_reference(checks.convolution.DUMOULIN_X, checks.convolution.DUMOULIN_K), checks.convolution.DUMOULIN_Y)
    rng = np.random.default_rng(1)
    for stride, padding in [(1, 0), (2, 1), (1, "same"), (2, "same"), (3, "valid")]:
        x, w, b = rng.normal(size=(7, 8, 2)), rng.normal(size=(3, 2, 2, 3)), rng.normal(size=3)
        want = good_conv(x, w, b, stride, padding)
        np.testing.assert_allclose(conv_reference(x, w, b, stride, padding), want, rtol=1e-10, atol=1e-12)
    assert conv_reference(np.ones((5, 5), np.float32), np.ones((2, 2), np.float32)).dtype == np.float32
    assert conv_reference(np.ones((7, 8, 1)), np.ones((4, 4, 1, 1)), None, 3, "same").shape == (3, 3, 1)


def test_check_conv_passes_right_answers(capsys):
    def full(x, w, b=None, stride=1, padding=0):
        return good_conv(x, w, b, stride, padding)

    for stage, fn in [("single", good_single), ("multi", good_multi), ("filters", good_filters), ("full", full)]:
        assert checks.check_conv(fn, stage), stage
    assert capsys.readouterr().out.count("PASS") == 4


@pytest.mark.parametrize("stage, wrong, needle", [
    ("single", lambda x, k: good_single(x, k[::-1, ::-1]), "did you flip the kernel?"),
    ("single", lambda x, k: good_single(x, k)[:-1, :-1], "H - kh + 1"),
    ("single", lambda x, k: good_single(x, k).astype(np.float64), "dtype float64 but expected float32"),
    ("single", lambda x, k: tf.nn.conv2d(x[None, :, :, None], k[:, :, None, None], 1, "VALID")[0, :, :, 0],
     "calls tf.nn.conv2d"),
    ("multi", lambda x, k: good_single(x[..., 0], k[..., 0]), "values differ"),
    ("filters", lambda x, w, b: good_filters(x, w, 0 * b), "forget to add the bias"),
    ("full", lambda x, w, b=None, stride=1, padding=0: good_conv(x, w, b, stride, 0 if padding == "same" else padding),
     "'same' gives ceil(H / stride) rows"),
])
def test_check_conv_diagnoses_common_mistakes(stage, wrong, needle):
    result = checks.check_conv(wrong, stage, verbose=False)
    assert not result
    assert needle in result.message, result.message


def test_check_conv_same_padding_on_the_wrong_side():
    def top_left(x, w, b=None, stride=1, padding=0):
        if padding != "same":
            return good_conv(x, w, b, stride, padding)
        (top, bottom), (left, right) = [_pad_amounts(x.shape[a], w.shape[a], stride, "same") for a in (0, 1)]
        xp = np.pad(x, ((bottom, top), (right, left), (0, 0)))
        return good_conv(xp, w, b, stride, 0)

    message = checks.check_conv(top_left, "full", verbose=False).message
    assert "extra row/column at the bottom/right" in message, message


def test_check_conv_unknown_stage():
    with pytest.raises(ValueError, match="stage must be one of"):
        checks.check_conv(good_single, "double")


# --------------------------------------------------------------------------
# check_model
# --------------------------------------------------------------------------


def _small_cnn(filters=8, kernel=3, padding="valid"):
    keras = pytest.importorskip("keras")
    return keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(filters, kernel, padding=padding, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(10),
    ])


EXPECTED_CNN = [("Conv2D", (26, 26, 8), 80), ("MaxPooling2D", (13, 13, 8), 0),
                ("Flatten", (1352,), 0), ("Dense", (10,), 13530)]


def test_check_model_passes_and_skips_none():
    assert checks.check_model("cnn", _small_cnn(), EXPECTED_CNN, verbose=False)
    loose = [(kind, None, None) for kind, _, _ in EXPECTED_CNN]
    assert checks.check_model("cnn", _small_cnn(filters=4), loose, verbose=False)


@pytest.mark.parametrize("model_args, needle", [
    ({"filters": 16}, "layer 1 (conv2d"),
    ({"padding": "same"}, "output shape (28, 28, 8) but expected (26, 26, 8)"),
])
def test_check_model_diagnoses(model_args, needle):
    result = checks.check_model("cnn", _small_cnn(**model_args), EXPECTED_CNN, verbose=False)
    assert not result and needle in result.message, result.message


def test_check_model_parameter_message_and_layer_count():
    result = checks.check_model("cnn", _small_cnn(filters=16), EXPECTED_CNN, verbose=False)
    assert "(26, 26, 16) but expected (26, 26, 8)" in result.message
    assert "number of filters" in result.message
    no_shapes = [(kind, None, params) for kind, _, params in EXPECTED_CNN]
    result = checks.check_model("cnn", _small_cnn(filters=16), no_shapes, verbose=False)
    assert "160 parameters but expected 80 (its weights: 3x3x1x16 + 16)" in result.message
    short = checks.check_model("cnn", _small_cnn(), EXPECTED_CNN[:3], verbose=False)
    assert "4 layers but expected 3" in short.message
    assert "yours:    Conv2D, MaxPooling2D, Flatten, Dense" in short.message
    assert "expected a Keras model" in checks.check_model("cnn", None, EXPECTED_CNN, verbose=False).message
