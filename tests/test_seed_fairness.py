"""No grading seed marks a right answer wrong.

For every step of every lab, the solution's answer cells are called here, in this process, on
the probes that grading with a seed draws, and what they return goes through the runner's
encoding (a model is saved and loaded back in safe mode, as in grading) to the grader's judges:
probes and judges only, no sandbox, so that a seed costs milliseconds. A class shares one seed,
so one seed whose expected value is wrong marks every correct submission down; every step is
judged on 200 seeds, and fewer only where one seed costs seconds (the step trains a network or
builds models for its expected values), each with its reason.
"""

import functools

import numpy as np
import pytest

from course_files import HAS_SOLUTIONS, LABS, ROOT

pytestmark = [pytest.mark.grading,
              pytest.mark.skipif(not HAS_SOLUTIONS, reason="a published copy has no solutions/")]

if HAS_SOLUTIONS:
    import judging
    from coursegrader import runner, spec

SEEDS = 200
# A fixed sample of the grader's seed space, led by the seed of a class that lost points once.
_SAMPLE = [444732796, *np.random.default_rng(25).integers(2**31, size=SEEDS - 1).tolist()]

# (lab, grade_id) -> (seeds, why fewer). Every other step is judged on SEEDS seeds.
_TRAINS = "trains a network for each seed"
FEWER = {
    ("lab2_padding_stride", "receptive_field"): (40, "builds 12 Keras models a seed for its expected values (0.5 s)"),
    ("lab3_pooling", "shift_net"): (40, "saves and loads four Keras models a seed (0.5 s)"),
    ("lab3_pooling", "shift_study"): (4, _TRAINS + " (2 networks, 5 s)"),
    ("lab4_architectures", "lenet5"): (50, "saves and loads a Keras model a probe (0.4 s a seed)"),
    ("lab4_architectures", "vgg"): (3, "builds VGG-16 twice a seed (10 s)"),
    ("lab4_architectures", "separable_block"): (20, "builds and reloads Keras blocks (1 s a seed)"),
    ("lab4_architectures", "inverted_residual"): (12, "builds and reloads four Keras blocks (2 s a seed)"),
    ("lab4_architectures", "se_block"): (20, "builds and reloads Keras blocks (1 s a seed)"),
    ("lab4_architectures", "block_cost"): (30, "builds six Keras blocks a seed for its expected values (1 s)"),
    ("lab4_architectures", "design_net"): (10, "builds, saves and reloads the designed network a seed (3 s)"),
    ("lab5_training", "momentum_step"): (60, "computes its expected values with Keras' SGD (0.1 s a seed)"),
    ("lab5_training", "adam_step"): (40, "computes its expected values with Keras' Adam (0.3 s a seed)"),
    ("lab5_training", "lr_range_test"): (3, "runs range tests and short runs on two probes for its expected rates (15 s a seed)"),
    ("lab5_training", "fixed_run"): (8, _TRAINS + " (6 s)"),
    ("lab6_batch_norm", "bn_experiment"): (6, _TRAINS + " (2 convnets, 2 s)"),
    ("lab6_batch_norm", "bn_report"): (10, "trains 10 convnets at the report's placement and rate, once (8 s)"),
    ("lab7_initialization", "signal_norms"): (30, "builds, saves and reloads three Keras models a seed (1 s)"),
    ("lab8_transfer_learning", "truncated_base"): (10, "builds and reloads cuts of a pretrained base (2 s a seed)"),
    ("lab8_transfer_learning", "linear_probe"): (4, _TRAINS + " (3 s)"),
    ("lab8_transfer_learning", "budget_curve"): (4, "trains 12 small heads a seed (8 s)"),
    ("lab9_visualization", "feature_extractor"): (20, "builds and reloads Keras models (1 s a seed)"),
    ("lab9_visualization", "gradient_ascent"): (3, "runs gradient ascent on a network a seed (10 s)"),
    ("lab9_visualization", "grad_cam"): (5, "trains a small network for its expected maps (5 s a seed)"),
    ("lab9_visualization", "fgsm"): (3, _TRAINS + " to attack (9 s)"),
    ("lab9_visualization", "occlusion"): (20, "runs Keras models on every covered copy (1 s a seed)"),
    ("lab9_visualization", "sanity_check"): (20, "occludes two models and their random copies (2 s a seed)"),
    ("lab10_fcn", "dense_to_conv"): (12, "builds and reloads Keras twins (2 s a seed)"),
    ("lab10_fcn", "mean_iou"): (80, "computes its expected values with Keras' metric (0.4 s a seed)"),
    ("lab10_fcn", "train_unet"): (2, "the answer trains a U-Net for each seed (10 s)"),
}


# `make test-fast` judges a step on its first FAST seeds; the rest of its SEEDS are a test of
# their own, marked slow (make test runs both: each seed once). FEWER steps are slow as a whole.
FAST = 20


def _steps():
    for lab in LABS:
        for index, step in enumerate(spec.load(ROOT / "solutions" / lab / "grader.py")):
            param = functools.partial(pytest.param, lab, index, step.grade_id)
            if (lab, step.grade_id) in FEWER:
                yield param(0, FEWER[lab, step.grade_id][0], id=f"{lab}-{step.grade_id}", marks=[pytest.mark.slow])
            else:
                yield param(0, FAST, id=f"{lab}-{step.grade_id}")
                yield param(FAST, SEEDS, id=f"{lab}-{step.grade_id}-rest", marks=[pytest.mark.slow])


@pytest.mark.parametrize("lab,index,grade_id,start,stop", list(_steps()) if HAS_SOLUTIONS else [])
def test_no_seed_marks_the_solution_down(lab, index, grade_id, start, stop, tmp_path, monkeypatch):
    steps, namespace = judging.solution(lab)
    monkeypatch.setattr(runner, "JOB", runner.JOB)
    lost = [f"seed {seed}: {'; '.join(reasons)}" for seed in _SAMPLE[start:stop]
            if (reasons := judging.judge(steps[index], index, namespace, seed, tmp_path))]
    assert not lost, (f"{lab} {grade_id}: the solution loses points on {len(lost)} of seeds {start} to {stop - 1}:\n"
                      + "\n".join(lost[:10]))
