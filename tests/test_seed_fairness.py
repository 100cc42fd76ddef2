"""No grading seed marks a right answer wrong.

For every step of every lab, the solution's answer cells are called here, in this process, on
the probes that grading with a seed draws, and what they return goes through the runner's
encoding (a model is saved and loaded back in safe mode, as in grading) to the grader's judges:
probes and judges only, no sandbox, so that a seed costs milliseconds. A class shares one seed,
so one seed whose expected value is wrong marks every correct submission down; every step is
judged on 200 seeds, and fewer only where one seed costs seconds (the step trains a network or
builds models for its expected values), each with its reason.
"""

import contextlib
import io
import json
import pathlib

import numpy as np
import pytest

from course_files import HAS_SOLUTIONS, LABS, ROOT

pytestmark = [pytest.mark.grading,
              pytest.mark.skipif(not HAS_SOLUTIONS, reason="a published copy has no solutions/")]

if HAS_SOLUTIONS:
    from coursegrader import grade, runner, spec

SEEDS = 200
# A fixed sample of the grader's seed space, led by the seed of a class that lost points (issue 25).
_SAMPLE = [444732796, *np.random.default_rng(25).integers(2**31, size=SEEDS - 1).tolist()]

# (lab, grade_id) -> (seeds, why fewer). Every other step is judged on SEEDS seeds.
_TRAINS = "trains a network for each seed"
FEWER = {
    ("lab2_padding_stride", "receptive_field"): (40, "builds 12 Keras models a seed for its expected values (0.5 s)"),
    ("lab3_pooling", "shift_experiment"): (4, _TRAINS + " (9 s)"),
    ("lab4_architectures", "lenet5"): (50, "saves and loads a Keras model a probe (0.4 s a seed)"),
    ("lab4_architectures", "vgg_block"): (50, "saves and loads Keras models (0.4 s a seed)"),
    ("lab4_architectures", "vgg"): (3, "builds VGG-16 twice a seed (10 s)"),
    ("lab4_architectures", "inception_module"): (12, "builds and reloads Keras blocks (2 s a seed)"),
    ("lab4_architectures", "residual_block"): (12, "builds and reloads Keras blocks (2 s a seed)"),
    ("lab4_architectures", "bottleneck_block"): (12, "builds and reloads Keras blocks (2 s a seed)"),
    ("lab4_architectures", "resnext_block"): (12, "builds and reloads Keras blocks (2.5 s a seed)"),
    ("lab4_architectures", "degradation"): (5, "builds twin twenty-layer networks a seed (6 s)"),
    ("lab5_training", "build_seed_cnn"): (60, "saves and loads a Keras model a probe (0.3 s a seed)"),
    ("lab5_training", "make_model"): (60, "saves and loads Keras models (0.2 s a seed)"),
    ("lab5_training", "make_augmenter"): (60, "saves and loads a Keras model a probe (0.3 s a seed)"),
    ("lab5_training", "train_and_evaluate"): (2, _TRAINS + " (24 s)"),
    ("lab5_training", "capacity_sweep"): (2, _TRAINS + " (19 s)"),
    ("lab6_batch_norm", "bn_experiment"): (6, _TRAINS + " (4 s)"),
    ("lab7_initialization", "glorot_uniform"): (60, "draws Keras samples of 200,000+ weights a seed (0.4 s)"),
    ("lab7_initialization", "he_uniform"): (60, "draws Keras samples of 200,000+ weights a seed (0.4 s)"),
    ("lab7_initialization", "truncated_normal"): (60, "draws Keras samples of 200,000+ weights a seed (0.4 s)"),
    ("lab7_initialization", "glorot_normal"): (60, "draws Keras samples of 200,000+ weights a seed (0.4 s)"),
    ("lab7_initialization", "he_normal"): (60, "draws Keras samples of 200,000+ weights a seed (0.4 s)"),
    ("lab7_initialization", "forward_stats"): (10, "forwards batches through deep stacks a seed (2.5 s)"),
    ("lab7_initialization", "symmetry_steps"): (10, _TRAINS + " (2.5 s)"),
    ("lab7_initialization", "train_run"): (2, _TRAINS + " (15 s)"),
    ("lab8_transfer_learning", "extract_features"): (4, "runs a pretrained base a seed (7 s)"),
    ("lab8_transfer_learning", "linear_probe"): (2, _TRAINS + " (23 s)"),
    ("lab8_transfer_learning", "build_transfer_model"): (6, "builds and reloads a model on a pretrained base (4 s a seed)"),
    ("lab8_transfer_learning", "unfreeze_top"): (3, "builds and reloads models on a pretrained base (13 s a seed)"),
    ("lab9_visualization", "feature_extractor"): (20, "builds and reloads Keras models (1 s a seed)"),
    ("lab9_visualization", "gradient_ascent"): (3, "runs gradient ascent on a network a seed (10 s)"),
    ("lab9_visualization", "grad_cam"): (5, "trains a small network for its expected maps (5 s a seed)"),
    ("lab9_visualization", "fgsm"): (3, _TRAINS + " to attack (9 s)"),
    ("lab10_fcn", "dense_to_conv"): (12, "builds and reloads Keras twins (2 s a seed)"),
    ("lab10_fcn", "mean_iou"): (80, "computes its expected values with Keras' metric (0.4 s a seed)"),
    ("lab10_fcn", "build_fcn"): (2, _TRAINS + " (17 s)"),
}


def _steps():
    for lab in LABS:
        for index, step in enumerate(spec.load(ROOT / "solutions" / lab / "grader.py")):
            marks = [pytest.mark.slow] if (lab, step.grade_id) in FEWER else []
            yield pytest.param(lab, index, step.grade_id, id=f"{lab}-{step.grade_id}", marks=marks)


@pytest.fixture(scope="module")
def solutions():
    """lab -> (its steps, a namespace in which the solution's answer cells ran, in order)."""
    cache = {}

    def solve(lab):
        if lab not in cache:
            import keras
            import tensorflow as tf

            folder = ROOT / "solutions" / lab
            sources = grade.reference_sources(json.loads((folder / f"{lab}.ipynb").read_text()))
            namespace = {"__name__": "__main__", "np": np, "tf": tf, "keras": keras,
                         "get_ipython": runner._Anything(), "checks": runner._Anything()}
            with contextlib.redirect_stdout(io.StringIO()):
                for grade_id, source in sources.items():
                    grade._settings_kept(exec, compile(source, f"<solution {grade_id}>", "exec"), namespace)
            cache[lab] = (spec.load(folder / "grader.py"), namespace)
        return cache[lab]
    return solve


def _returned(value, folder: pathlib.Path):
    """(result, arrays) as the grader reads what the student's process returned."""
    arrays = {}
    runner.JOB = str(folder)
    got = runner._encode(value, "r0", arrays)
    if got.get("kind") == "model":
        whole = folder / "r0.keras"
        arrays["r0"] = grade._load_model(whole) if whole.exists() else grade._load_architecture(folder / "r0.json")
    return got, arrays


def _answer(step, namespace, probe, seed):
    """What the solution returns for a probe (or the exception's type, as the runner reports it)."""
    runner._seed(seed, not step.numpy_only)
    if step.call is None:
        return namespace[probe.name]
    args = [a.copy() if isinstance(a, np.ndarray) else a for a in probe.args]
    kwargs = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in probe.kwargs.items()}
    return namespace[step.call](*args, **kwargs)


def judge_solution(step, index, namespace, seed, folder: pathlib.Path) -> list[str]:
    """The reasons for which grading with `seed` marks the solution's answers to a step down."""
    probes = grade._settings_kept(step.probes, np.random.default_rng([seed, index]))
    box_seed, reasons = grade._box_seed(seed, index), []
    for number, probe in enumerate(probes):
        try:
            value = grade._settings_kept(_answer, step, namespace, probe, box_seed + number)
            got, arrays = _returned(value, folder)
        except Exception as error:  # noqa: BLE001 - reported as the runner reports it
            got, arrays = {"kind": "raised", "type": type(error).__name__}, {}
        reason = grade._settings_kept(grade._check, probe, got, arrays)
        if reason is not None:
            reasons.append(reason)
    return reasons


@pytest.mark.parametrize("lab,index,grade_id", list(_steps()) if HAS_SOLUTIONS else [])
def test_no_seed_marks_the_solution_down(solutions, lab, index, grade_id, tmp_path, monkeypatch):
    steps, namespace = solutions(lab)
    seeds, _why = FEWER.get((lab, grade_id), (SEEDS, ""))
    monkeypatch.setattr(runner, "JOB", runner.JOB)
    lost = [f"seed {seed}: {'; '.join(reasons)}" for seed in _SAMPLE[:seeds]
            if (reasons := judge_solution(steps[index], index, namespace, seed, tmp_path))]
    assert not lost, (f"{lab} {grade_id}: the solution loses points on {len(lost)} of {seeds} seeds:\n"
                      + "\n".join(lost[:10]))
