"""Lab 2's hidden checks: the "same" split that they expect is TensorFlow's."""

import importlib.util

import numpy as np
import pytest

from course_files import HAS_SOLUTIONS, ROOT

pytestmark = pytest.mark.skipif(not HAS_SOLUTIONS, reason="a published copy has no solutions/")


def _grader():
    path = ROOT / "solutions" / "lab2_padding_stride" / "grader.py"
    module_spec = importlib.util.spec_from_file_location("lab2_grader", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def _conv(x, w, stride, dilation, pads):
    import tensorflow as tf

    padding = pads if isinstance(pads, str) else [[0, 0], list(pads), [0, 0], [0, 0]]
    return tf.nn.conv2d(x, w, [1, stride, 1, 1], padding, dilations=[1, dilation, 1, 1]).numpy()


def test_the_same_split_is_tensorflows():
    """On random inputs, for every size, kernel, stride or dilation of the probe space,
    tf.nn.conv2d's "SAME" output is the output of the rule's split; in most cases no other split
    gives it (the split is observable), so the rule is held to TensorFlow, not only consistent."""
    import tensorflow as tf

    tf_same_pads = _grader().tf_same_pads
    rng = np.random.default_rng(2)
    observable = 0
    for n in range(1, 40):
        for k in range(1, 8):
            for stride, dilation in [(1, 1), (2, 1), (3, 1), (4, 1), (1, 2), (1, 3)]:
                before, after = tf_same_pads(n, k, stride, dilation)
                x = tf.constant(rng.normal(size=(1, n, 1, 1)))
                w = tf.constant(rng.normal(size=(k, 1, 1, 1)))
                total = before + after
                outputs = [_conv(x, w, stride, dilation, (b, total - b)) for b in range(total + 1)]
                same = _conv(x, w, stride, dilation, "SAME")
                np.testing.assert_allclose(same, outputs[before], err_msg=str((n, k, stride, dilation)))
                observable += sum(np.allclose(o, same) for o in outputs) == 1
    assert observable > 500  # the rule was held to TensorFlow on many cases, not vacuously


def test_a_one_pixel_input_with_a_dilated_kernel_gets_the_rules_split():
    """The cases that cost a class 2 points (seed 444732796): one pixel under a dilated kernel of
    even size falls between taps for every odd split, so trying splits on TensorFlow's output
    found the first of them, (1, total - 1). The rule gives total // 2 before, the rest after."""
    tf_same_pads = _grader().tf_same_pads
    assert tf_same_pads(1, 4, 1, 2) == (3, 3)   # total (4 - 1) * 2 + 1 - 1 = 6
    assert tf_same_pads(1, 4, 1, 3) == (4, 5)   # total 9: the odd zero goes after
    assert tf_same_pads(1, 6, 1, 3) == (7, 8)   # total 15
