"""coursekit.train's device plan, decided by pure functions: tested without any GPU.

Each choice (precision, XLA, strategy) takes what make_plan reads from the machine (the GPUs'
compute capability, how many there are, the replicas) and returns the choice with its reason,
so the GPU branches are checked here on a CPU.
"""

import pytest

from coursekit import _device


@pytest.mark.parametrize("argument, cc, policy, why", [
    ("auto", None, "float32", "a CPU gains nothing"),
    ("auto", (9, 0), "mixed_bfloat16", "9.0 >= 8.0 has bfloat16 tensor cores"),
    ("auto", (8, 0), "mixed_bfloat16", "needs no loss scaling"),
    ("auto", (7, 5), "mixed_float16", "the loss is scaled"),
    ("auto", (6, 1), "float32", "6.1 < 7.0 gains nothing"),
    (True, None, "mixed_bfloat16", "asked for"),
    (True, (7, 0), "mixed_float16", "asked for"),
    (False, (9, 0), "float32", "asked for"),
    ("mixed_float16", None, "mixed_float16", "asked for"),
])
def test_precision_follows_the_compute_capability_or_the_caller(argument, cc, policy, why):
    chosen, reason = _device._choose_precision(argument, cc)
    assert chosen == policy and why in reason


@pytest.mark.parametrize("argument, gpus, replicas, on, why", [
    ("auto", 0, 1, False, "slower than oneDNN"),
    ("auto", 1, 1, True, "fuses ops on the GPU"),
    ("auto", 2, 2, False, "off under tf.distribute"),
    (True, 0, 1, True, "asked for"),
    (False, 1, 1, False, "asked for"),
])
def test_xla_is_on_for_one_gpu_only_unless_asked(argument, gpus, replicas, on, why):
    chosen, reason = _device._choose_xla(argument, gpus, replicas)
    assert chosen is on and why in reason


def test_one_device_has_nothing_to_distribute():
    import tensorflow as tf

    strategy, why = _device._choose_strategy("auto", 0)
    assert strategy is tf.distribute.get_strategy() and why == "one device, nothing to distribute"
    given = tf.distribute.get_strategy()
    assert _device._choose_strategy(given, 4) == (given, "given by the caller")


@pytest.mark.parametrize("call, message", [
    (lambda: _device._choose_precision("half", None), "mixed_precision='half': use 'auto'"),
    (lambda: _device._choose_xla("yes", 0, 1), "jit_compile='yes': use 'auto', True or False"),
    (lambda: _device._choose_strategy("mirror", 0), "strategy='mirror': use 'auto', 'mirrored'"),
])
def test_a_bad_argument_says_what_to_use(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_the_plan_on_this_machine_agrees_with_the_choices():
    plan = _device.make_plan()
    if plan.n_gpus == 0:
        assert (plan.precision, plan.xla, plan.device_type) == ("float32", False, "CPU")
        assert "no GPU visible" in plan.device
    assert plan.xla == _device._choose_xla("auto", plan.n_gpus, plan.n_replicas)[0]
