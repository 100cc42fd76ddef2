"""The self-checks compare with recorded outputs: no answer key ships with coursekit.

The outputs recorded in coursekit's package data are those that the instructor's references give
today (a stale recording fails here: run ``make labs``), and coursekit holds no reference.
"""

import importlib
import inspect
import pkgutil

import numpy as np
import pytest

import coursekit
from coursekit import checks
from coursekit.checks import _recorded
from course_files import HAS_SOLUTIONS

# The references that coursekit.checks shipped until the answer keys moved to the instructor's side.
MOVED = ["conv_reference", "dilated_conv_reference", "same_pads", "receptive_field_reference", "pool_reference",
         "pool_backward_reference", "batchnorm_reference", "batchnorm_backward_reference", "numeric_bn_gradients",
         "bn_cache", "batchnorm_suspects", "fans_reference", "conv_transpose_reference", "mean_iou_reference",
         "vis_forward_reference", "cam_reference", "linear_fgsm_reference", "preprocess_reference",
         "features_reference"]


@pytest.mark.skipif(not HAS_SOLUTIONS, reason="a published copy has no references to record from")
def test_the_recorded_outputs_are_todays_references(tmp_path):
    from coursegrader.references import record

    written = record.record(tmp_path)
    assert {p.name for p in written} == {p.name for p in _recorded.FOLDER.glob("*.npz")}, "run make labs"
    for path in written:
        with np.load(path) as fresh, np.load(_recorded.FOLDER / path.name) as shipped:
            assert sorted(fresh.files) == sorted(shipped.files), f"{path.name} is stale: run make labs"
            for key in fresh.files:
                assert fresh[key].dtype == shipped[key].dtype, (path.name, key)
                np.testing.assert_array_equal(fresh[key], shipped[key], err_msg=f"{path.name} {key}")


def _coursekit_functions():
    for info in pkgutil.walk_packages(coursekit.__path__, "coursekit."):
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if inspect.isfunction(value) and value.__module__ == info.name:
                yield info.name, name


def test_coursekit_holds_no_reference_of_a_lab_step():
    names = {name for _module, name in _coursekit_functions()}
    assert not names & set(MOVED)
    assert not [f"{m}.{n}" for m, n in _coursekit_functions() if n.endswith("_reference")]
    assert not [n for n in MOVED if hasattr(checks, n)]


def _conv2d_single(x, k):
    windows = np.lib.stride_tricks.sliding_window_view(x, k.shape)
    return np.einsum("ijkl,kl->ij", windows, k).astype(np.result_type(x, k))


def test_a_self_check_on_inputs_with_nothing_recorded_says_so_and_computes_nothing():
    assert checks.check_conv(_conv2d_single, "single", verbose=False)
    result = checks.check_conv(_conv2d_single, "single", seed=12345, verbose=False)  # case 1 is fixed, 2 drawn
    assert not result and "case 2 of 5" in result.message
    assert "no answer is recorded for these inputs of conv2d_single" in result.message
