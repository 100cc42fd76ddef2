"""Which device coursekit.train uses, and why: a `DevicePlan`.

Private to coursekit.train; `coursekit.train.describe_device()` is the public face.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any

_MIXED_POLICIES = ("mixed_float16", "mixed_bfloat16")

# What op determinism costs, said once for the docstring and for describe_device().
DETERMINISM_COST = (
    "tf.config.experimental.enable_op_determinism is on for the rest of this Python "
    "process: GPU convolutions and reductions use slower deterministic kernels "
    "(often 10-50% slower, sometimes more), ops without a deterministic GPU kernel "
    "raise an error instead of running, and tf.data runs its parallel stages in order."
)


@dataclass
class DevicePlan:
    """What `coursekit.train.fit` will use. `str(plan)` is the human summary."""

    device: str  # e.g. "NVIDIA T4, 15.0 GiB" or "CPU, 2 cores, 7.6 GiB RAM"
    device_type: str  # "GPU" or "CPU"
    n_gpus: int
    compute_capability: tuple[int, int] | None
    precision: str  # "float32", "mixed_float16" or "mixed_bfloat16"
    precision_why: str
    xla: bool
    xla_why: str
    strategy: Any  # a tf.distribute.Strategy
    strategy_why: str
    distributed: bool  # the model must be built under strategy.scope()
    deterministic: bool
    deterministic_why: str

    @property
    def n_replicas(self) -> int:
        return int(self.strategy.num_replicas_in_sync)


    def __str__(self) -> str:
        rows = [
            ("device", self.device),
            ("precision", f"{self.precision}: {self.precision_why}"),
            ("XLA", f"{'on' if self.xla else 'off'}: {self.xla_why}"),
            ("strategy", f"{type(self.strategy).__name__} ({self.n_replicas} replica"
                         f"{'s' if self.n_replicas != 1 else ''}): {self.strategy_why}"),
            ("determinism", f"{'on' if self.deterministic else 'off'}: {self.deterministic_why}"),
        ]
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def op_determinism_enabled() -> bool:
    """Whether op determinism is on in this process (TensorFlow 2.x has no public reader). Read
    by the input pipeline, and by the grader, which puts the setting back after a lab's code."""
    from tensorflow.python.framework import config

    return bool(getattr(config, "is_op_determinism_enabled", lambda: False)())


def _gib(n_bytes: float) -> str:
    return f"{n_bytes / 2**30:.1f} GiB"


def _cpu_description() -> str:
    cores = os.cpu_count() or 1
    text = f"CPU, {cores} core{'s' if cores != 1 else ''}"
    try:
        text += f", {_gib(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES'))} RAM"
    except (ValueError, OSError, AttributeError):
        pass
    return text


def _gpu_memory() -> list[str]:
    """Total memory of each GPU from nvidia-smi; TensorFlow has no API for the total."""
    exe = shutil.which("nvidia-smi")
    if not exe:
        return []
    try:
        out = subprocess.run(
            [exe, "--query-gpu=memory.total", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout
        return [_gib(float(line) * 2**20) for line in out.split() if line.strip()]
    except (OSError, subprocess.SubprocessError, ValueError):
        return []


def _gpus():
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    names, ccs = [], []
    for gpu in gpus:
        details = tf.config.experimental.get_device_details(gpu)
        names.append(details.get("device_name", gpu.name))
        ccs.append(tuple(details.get("compute_capability", (0, 0))))
    return gpus, names, ccs


def _describe_devices(names: list[str], cc) -> str:
    """The GPUs (name, memory, compute capability), or the CPU when there is none."""
    if not names:
        return _cpu_description() + " (no GPU visible to TensorFlow)"
    mems = _gpu_memory()
    device = "; ".join(f"{name}, {mems[i]}" if i < len(mems) else name for i, name in enumerate(names))
    return device + (f" (compute capability {cc[0]}.{cc[1]})" if cc else "")


def _choose_strategy(strategy, n_gpus: int):
    """(the tf.distribute strategy, why) for the `strategy` argument and the GPUs there are."""
    import tensorflow as tf

    if strategy == "auto":
        if n_gpus > 1:
            return (tf.distribute.MirroredStrategy(),
                    f"{n_gpus} GPUs: each takes a slice of every batch, gradients are summed")
        return tf.distribute.get_strategy(), "one device, nothing to distribute"
    if strategy == "mirrored":
        return tf.distribute.MirroredStrategy(), "asked for (strategy='mirrored')"
    if strategy is None:
        return tf.distribute.get_strategy(), "asked for (strategy=None)"
    if isinstance(strategy, tf.distribute.Strategy):
        return strategy, "given by the caller"
    raise ValueError(f"strategy={strategy!r}: use 'auto', 'mirrored', None or a tf.distribute.Strategy.")


def _choose_precision(mixed_precision, cc) -> tuple[str, str]:
    """(the Keras dtype policy, why) for the `mixed_precision` argument and the GPUs' lowest
    compute capability (None on a CPU)."""
    if mixed_precision == "auto":
        if cc is None:
            return "float32", "a CPU gains nothing from mixed precision (pass mixed_precision='mixed_bfloat16' to try)"
        if cc >= (8, 0):
            return "mixed_bfloat16", (f"compute capability {cc[0]}.{cc[1]} >= 8.0 has bfloat16 tensor cores; "
                                      "bfloat16 needs no loss scaling; the output layer stays float32")
        if cc >= (7, 0):
            return "mixed_float16", (f"compute capability {cc[0]}.{cc[1]} >= 7.0 has float16 tensor cores; "
                                     "the loss is scaled to avoid underflow; the output layer stays float32")
        return "float32", f"compute capability {cc[0]}.{cc[1]} < 7.0 gains nothing from float16"
    if mixed_precision in (False, None, "float32", "off"):
        return "float32", "asked for"
    if mixed_precision is True:
        return ("mixed_bfloat16" if (cc is None or cc >= (8, 0)) else "mixed_float16",
                "asked for (mixed_precision=True); the output layer stays float32")
    if mixed_precision in _MIXED_POLICIES:
        return mixed_precision, "asked for; the output layer stays float32"
    raise ValueError(
        f"mixed_precision={mixed_precision!r}: use 'auto', True, False, 'mixed_float16' or 'mixed_bfloat16'.")


def _choose_xla(jit_compile, n_gpus: int, n_replicas: int) -> tuple[bool, str]:
    """(XLA on or off, why) for the `jit_compile` argument, the GPUs and the replicas."""
    if jit_compile == "auto":
        if n_gpus == 0:
            return False, "measured slower than oneDNN kernels on CPU for small CNNs (benchmarks/train.py)"
        if n_replicas > 1:
            return False, "Keras turns XLA off under tf.distribute"
        return True, "fuses ops on the GPU (Keras' default there too)"
    if jit_compile in (True, False):
        return bool(jit_compile), "asked for"
    raise ValueError(f"jit_compile={jit_compile!r}: use 'auto', True or False.")


def _why_determinism(deterministic: bool) -> str:
    if deterministic:
        return DETERMINISM_COST
    return ("a seed alone makes CPU runs repeat exactly; GPU kernels may still differ in the "
            "last bits (deterministic=True fixes that, at a cost)")


def make_plan(*, mixed_precision="auto", jit_compile="auto", strategy="auto", deterministic=False) -> DevicePlan:
    """Decide device, precision, XLA, strategy and determinism (see coursekit.train.fit)."""
    import tensorflow as tf

    gpus, names, ccs = _gpus()
    cc = min(ccs) if ccs else None
    strategy_obj, strategy_why = _choose_strategy(strategy, len(gpus))
    precision, precision_why = _choose_precision(mixed_precision, cc)
    xla, xla_why = _choose_xla(jit_compile, len(gpus), int(strategy_obj.num_replicas_in_sync))
    return DevicePlan(
        device=_describe_devices(names, cc),
        device_type="GPU" if gpus else "CPU",
        n_gpus=len(gpus),
        compute_capability=cc,
        precision=precision,
        precision_why=precision_why,
        xla=xla,
        xla_why=xla_why,
        strategy=strategy_obj,
        strategy_why=strategy_why,
        distributed=strategy_obj is not tf.distribute.get_strategy(),
        deterministic=bool(deterministic),
        deterministic_why=_why_determinism(deterministic),
    )
