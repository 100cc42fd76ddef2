"""Every self-check of every lab, as a student's kernel runs it.

The solution notebook's code cells run in order, in one namespace (the student's kernel, in this
process). At each ``selfcheck_<step>`` cell: the self-check passes on the solution; then, with the
step's answer cell as the release gives it (blank), it says that the step is not written yet; then,
with the solution's answer cell changed by a typical mistake (``MISTAKES``), it names that mistake;
then the solution's answer cell runs again and the notebook goes on.
"""

import ast
import contextlib
import io
import json

import pytest

from course_files import HAS_SOLUTIONS, LABS, ROOT

# A lab's notebook trains its networks here, as in the student's kernel: minutes for some labs.
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not HAS_SOLUTIONS, reason="a published copy has no solutions/")]

#: what a self-check says about a blank answer (one of these)
NOT_WRITTEN = ("not implemented yet", "not written yet", "in the cell above")

#: (lab, step) -> [(text of the solution's answer cell, what a typical mistake writes instead,
#: words that the self-check's report must hold)]
MISTAKES = {
    ("lab1_convolution", "conv2d_single"): [("np.sum(window_of_x * k)", "np.sum(window_of_x * k[::-1, ::-1])",
                                             "flip the kernel")],
    ("lab1_convolution", "conv2d_multi"): [("return total.astype(", "return total[1:].astype(",
                                            "sum over the channels as well")],
    ("lab1_convolution", "conv2d_filters"): [(" + b[f] ", " ", "forget to add the bias")],
    ("lab1_convolution", "conv2d_full"): [("(total // 2, total - total // 2)", "(total - total // 2, total // 2)",
                                           "bottom/right")],
    ("lab1_convolution", "conv2d_backward"): [
        ("flipped = w[::-1, ::-1]", "flipped = w", "did you flip the kernel"),
        ("((kh - 1, kh - 1), (kw - 1, kw - 1), (0, 0))", "((kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0))",
         "finds each output it touched"),
        ("db = dout.sum(axis=(0, 1))", "db = dout.sum(axis=(0, 2))", "one value per filter"),
        ("db = dout.sum(axis=(0, 1))", "db = dout.mean(axis=(0, 1))", "not its mean"),
        ("seen = xp[m:m + out_h, n:n + out_w]", "seen = xp[kh - 1 - m:kh - 1 - m + out_h, kw - 1 - n:kw - 1 - n + out_w]",
         "dw comes out mirrored")],
    ("lab1_convolution", "count_params"): [("channels = filters  # the next", "channels = channels  # the next",
                                            "as many channels as the layer before")],
    ("lab1_convolution", "params_quiz"): [("answer_dense = 32 * 32 * 3 * 10 + 10", "answer_dense = 32 * 32 * 3 * 10",
                                           "answer_dense")],
    ("lab2_padding_stride", "layer_cost"): [("return weights + c_out, out", "return weights, out", "forget the biases"),
                                             ("weights = k * k * (c_in // groups) * c_out",
                                              "weights = k * k * c_in * c_out", "divide by the groups"),
                                             ("weights = k * k * c_out  #", "weights = k * k * c_in * c_out  #",
                                              "does not mix channels"),
                                             ("out = -(-side // stride)", "out = side // stride", "round up")],
    ("lab2_padding_stride", "same_padding"): [("return total // 2, total - total // 2",
                                               "return total - total // 2, total // 2", "after (bottom/right)")],
    ("lab2_padding_stride", "conv2d_im2col"): [("out = out + np.asarray(b)", "out = out", "forget to add the bias")],
    ("lab2_padding_stride", "receptive_field"): [("size += (span - 1) * jump", "size += span - 1",
                                                  "multiply by the jump")],
    ("lab2_padding_stride", "rf_design"): [("design = [(3, 2)] * 5 + [(3, 1)]", "design = [(3, 2)] * 5",
                                            "receptive field is 63")],
    ("lab3_pooling", "max_pool_forward"): [("windows[:, ::stride, ::stride].max(", "windows[:, ::size, ::size].max(",
                                            "(H - size) // stride + 1")],
    ("lab3_pooling", "avg_pool_forward"): [("windows[:, ::stride, ::stride].mean(", "windows[:, ::size, ::size].mean(",
                                            "(H - size) // stride + 1")],
    ("lab3_pooling", "max_pool_backward"): [("dx[:, rows, cols, :] += routed", "dx[:, rows, cols, :] = routed",
                                             "a plain assignment loses")],
    ("lab3_pooling", "avg_pool_backward"): [("share = dout / (size * size)", "share = dout", "not all of it")],
    ("lab3_pooling", "global_average_pool"): [("x.mean(axis=(1, 2))", "x.mean(axis=(1, 2), keepdims=True)",
                                               "(N, H, W, C) -> (N, C)")],
    ("lab3_pooling", "max_pool_by_conv"): [("return bottom + tf.nn.relu(top - bottom)", "return tf.maximum(top, bottom)",
                                            "convolutions and ReLUs")],
    ("lab3_pooling", "shift_net"): [("trainable=False)", ")", "must not learn"),
                                    ("layers.append(keras.layers.AveragePooling2D(2))",
                                     "layers.append(keras.layers.MaxPooling2D(2))", "halve the maps exactly twice"),
                                    ("keras.layers.Dense(10)])", "keras.layers.Dense(10, activation=\"softmax\")])",
                                     "no activation")],
    ("lab3_pooling", "shift_study"): [("keras.utils.set_random_seed(seed)\n            model = shift_net(kind)",
                                       "model = shift_net(kind)", "set_random_seed(seed)")],
    ("lab4_architectures", "lenet5"): [("for units in (120, 84):", "for units in (120, 64):",
                                        "number of filters (or units)")],
    ("lab4_architectures", "vgg"): [("Dense(4096", "Dense(2048", "number of filters (or units)")],
    ("lab4_architectures", "separable_block"): [
        ("x = keras.layers.ReLU(6.0)(keras.layers.BatchNormalization()(x))\n    x = keras.layers.Conv2D",
         "x = keras.layers.ReLU()(keras.layers.BatchNormalization()(x))\n    x = keras.layers.Conv2D",
         "where a ReLU(max 6) is expected")],
    ("lab4_architectures", "inverted_residual"): [
        ("y = keras.layers.BatchNormalization()(y)\n    if stride",
         "y = keras.layers.ReLU(6.0)(keras.layers.BatchNormalization()(y))\n    if stride", "is not expected")],
    ("lab4_architectures", "se_block"): [('activation="sigmoid"', 'activation="relu"',
                                          "where a Dense(sigmoid) is expected")],
    ("lab4_architectures", "block_cost"): [("math.ceil(height / stride) * math.ceil(width / stride)",
                                            "(height // stride) * (width // stride)", "ceil(H / 2)")],
    ("lab4_architectures", "design_net"): [("    x = se_block(x)\n", "", "no squeeze-and-excitation block")],
    ("lab5_training", "momentum_step"): [("    if nesterov:\n", "    if False:\n", "looks ahead")],
    ("lab5_training", "adam_step"): [("rate = learning_rate * np.sqrt(1 - beta_2**t) / (1 - beta_1**t)",
                                      "rate = learning_rate", "no bias correction")],
    ("lab5_training", "lr_range_test"): [("return float(rates[best] / 10)", "return float(rates[len(losses) - 1])",
                                          "too large")],
    ("lab5_training", "diagnosis"): [("batch_too_small = False", "batch_too_small = True", "batch_too_small")],
    ("lab5_training", "fixed_run"): [("SparseCategoricalCrossentropy(from_logits=True)",
                                      "SparseCategoricalCrossentropy()", "learns nothing")],
    ("lab6_batch_norm", "batchnorm_forward"): [("var = x.var(axis=axes) ", "var = x.var(axis=axes, ddof=1) ", "m - 1")],
    ("lab6_batch_norm", "batchnorm_backward"): [("dbeta = dout.sum(axis=axes)", "dbeta = dout.sum(axis=0)",
                                                 "every axis but the channels")],
    ("lab6_batch_norm", "batchnorm_backward_alt"): [("(m * dout - dbeta - x_hat * dgamma)", "(m * dout - dbeta - dgamma)",
                                                     "x reaches the output three ways")],
    ("lab6_batch_norm", "batchnorm_layer"): [
        ("self.moving_mean * self.momentum + mean * (1 - self.momentum)",
         "self.moving_mean * (1 - self.momentum) + mean * self.momentum", "momentum convention is reversed")],
    ("lab6_batch_norm", "bn_experiment"): [("keras.utils.set_random_seed(int(seed))\n        model = convnet(placement)",
                                            "model = convnet(placement)", "set_random_seed(seed)")],
    ("lab6_batch_norm", "bn_report"): [("BN_WINS = True", "BN_WINS = False", "does not follow from your numbers")],
    ("lab7_initialization", "leaky_relu_gain"): [("(1.0 + float(alpha) ** 2)", "(1.0 + float(alpha))",
                                                  "forgets the square")],
    ("lab7_initialization", "fan_out_normal"): [("fan_out = dims[-1] * receptive_field",
                                                 "fan_out = dims[-2] * receptive_field", "fan_in used")],
    ("lab7_initialization", "signal_norms"): [("SparseCategoricalCrossentropy(from_logits=True)",
                                               'SparseCategoricalCrossentropy(from_logits=True, reduction="sum")',
                                               "summed over the batch")],
    ("lab7_initialization", "backward_quiz"): [("answer_he_forward = 5", "answer_he_forward = 4",
                                                "answer_he_forward")],
    ("lab8_transfer_learning", "preprocess"): [("/ np.float32(127.5) - np.float32(1.0)", "/ np.float32(255.0)",
                                                "0 -> -1 and 255 -> 1")],
    ("lab8_transfer_learning", "truncated_base"): [("keras.layers.GlobalAveragePooling2D()(",
                                                    "keras.layers.GlobalMaxPooling2D()(", "averaged over positions")],
    ("lab8_transfer_learning", "linear_probe"): [('keras.layers.Dense(n_classes, activation="softmax")',
                                                  "keras.layers.Dense(n_classes)", "end with a softmax")],
    ("lab8_transfer_learning", "budget_curve"): [("    return table\n", "    return table.T\n", "one row per budget")],
    ("lab8_transfer_learning", "report"): [("TRANSFER_WINS = True", "TRANSFER_WINS = False",
                                            "does not follow from your numbers")],
    ("lab9_visualization", "feature_extractor"): [("keras.Model(model.inputs[0], outputs)",
                                                   "keras.Model(model.inputs[0], outputs[::-1])",
                                                   "in the order of layer_names")],
    ("lab9_visualization", "gradient_ascent"): [("x.assign(x / tf.maximum(1.0, tf.norm(x)))", "x.assign(x)",
                                                 "onto the unit ball")],
    ("lab9_visualization", "grad_cam"): [("cam = tf.nn.relu(", "cam = (", "ReLU(sum_k")],
    ("lab9_visualization", "fgsm"): [("adv = x + eps * tf.sign(", "adv = x - eps * tf.sign(", "goes down the loss")],
    ("lab9_visualization", "occlusion"): [("covered[:, i:i + patch, j:j + patch, :] = 0.5",
                                          "covered[:, i:i + patch, j:j + patch, :] = 0.0", "black (0)")],
    ("lab9_visualization", "sanity_check"): [("again = occlusion(copy,", "again = occlusion(model,",
                                              "compared with itself")],
    ("lab10_fcn", "bilinear_kernel"): [("np.zeros((size, size, out_ch, in_ch)", "np.zeros((size, size, in_ch, out_ch)",
                                        "(size, size, out, in)")],
    ("lab10_fcn", "dense_to_conv"): [("kernel.reshape(h, w, c, kernel.shape[1])",
                                      "kernel.reshape(c, h, w, kernel.shape[1]).transpose(1, 2, 0, 3)",
                                      "outputs differ from the classifier's")],
    ("lab10_fcn", "conv_transpose2d"): [("+= k[a, b] * x", "+= k[-1 - a, -1 - b] * x", "adds x[i, j] * k")],
    ("lab10_fcn", "mean_iou"): [("seen = either > 0", "seen = either >= 0", "whose union is not empty")],
    ("lab10_fcn", "train_unet"): [("up = conv(layers.Concatenate()([up, full]), 16)", "up = conv(up, 16)",
                                   "concatenated at 1 resolution(s)")],
}


def _cells(lab: str, folder: str) -> list[dict]:
    notebook = json.loads((ROOT / folder / lab / f"{lab}.ipynb").read_text())
    return [c for c in notebook["cells"] if c["cell_type"] == "code"]


def _grade_id(cell) -> str:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")


def _source(cell) -> str:
    lines = "".join(cell["source"]).splitlines()
    return "\n".join(line for line in lines if not line.lstrip().startswith(("%", "!")))  # no magics


class _Anything:
    def __getattr__(self, name):
        return self

    def __call__(self, *args, **kwargs):
        return self


def _run(source: str, namespace: dict, label: str) -> str:
    """Run one cell as the kernel would; what it printed."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(source, f"<{label}>", "exec"), namespace)  # noqa: S102 - the course's own cells
    return printed.getvalue()


def _assigned(source: str) -> set[str]:
    """Names that a cell defines at its top level: values, functions, classes (a fresh kernel running
    the blank cell, which raises, would not have them)."""
    names = set()
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        for target in getattr(node, "targets", [getattr(node, "target", None)]):
            names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)} if target is not None else set()
    return names


def _report(check_source: str, answer: str, solution: str, namespace: dict, label: str) -> str:
    """What the self-check cell prints with `answer` in place of the step's answer cell (`solution`)."""
    for name in _assigned(solution) | _assigned(answer):
        namespace.pop(name, None)
    with contextlib.suppress(NotImplementedError):  # a blank value cell raises where the kernel would
        _run(answer, namespace, f"{label} answer")
    return _run(check_source, namespace, label)


@pytest.mark.parametrize("lab", LABS if HAS_SOLUTIONS else [])
def test_every_self_check_passes_the_solution_says_blank_and_names_a_mistake(lab):
    release = {_grade_id(c): _source(c) for c in _cells(lab, "labs")}
    namespace = {"__name__": "__main__", "get_ipython": _Anything()}
    answers, checked = {}, []
    for cell in _cells(lab, "solutions"):
        grade_id, source = _grade_id(cell), _source(cell)
        if cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
            answers[grade_id] = source
        if not grade_id.startswith("selfcheck_"):
            _run(source, namespace, grade_id)
            continue
        step = grade_id[len("selfcheck_"):]
        solution = answers[step]
        report = _run(source, namespace, grade_id)
        assert "PASS" in report and "FAIL" not in report, f"{lab} {grade_id} on the solution:\n{report}"
        report = _report(source, release[step], solution, namespace, f"{grade_id}, blank")
        assert "FAIL" in report and any(words in report for words in NOT_WRITTEN), \
            f"{lab} {grade_id} on the release's blank:\n{report}"
        for old, new, words in MISTAKES.get((lab, step), []):
            assert old in solution, f"{lab} {step}: the solution no longer holds {old!r}"
            report = _report(source, solution.replace(old, new), solution, namespace, f"{grade_id}, mistake")
            assert "FAIL" in report and words in report, f"{lab} {grade_id}, {new!r}:\n{report}"
        _run(solution, namespace, step)
        checked.append(step)
    assert checked, f"{lab} has no self-check cell"
