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


def make_plan(*, mixed_precision="auto", jit_compile="auto", strategy="auto", deterministic=False) -> DevicePlan:
    """Decide device, precision, XLA, strategy and determinism (see coursekit.train.fit)."""
    import tensorflow as tf

    gpus, names, ccs = _gpus()
    n_gpus = len(gpus)
    cc = min(ccs) if ccs else None
    if n_gpus:
        mems = _gpu_memory()
        parts = []
        for i, name in enumerate(names):
            parts.append(f"{name}, {mems[i]}" if i < len(mems) else name)
        device = "; ".join(parts)
        if cc:
            device += f" (compute capability {cc[0]}.{cc[1]})"
    else:
        device = _cpu_description() + " (no GPU visible to TensorFlow)"

    # Strategy
    if strategy == "auto":
        if n_gpus > 1:
            strategy_obj = tf.distribute.MirroredStrategy()
            strategy_why = f"{n_gpus} GPUs: each takes a slice of every batch, gradients are summed"
        else:
            strategy_obj = tf.distribute.get_strategy()
            strategy_why = "one device, nothing to distribute"
    elif strategy == "mirrored":
        strategy_obj = tf.distribute.MirroredStrategy()
        strategy_why = "asked for (strategy='mirrored')"
    elif strategy is None:
        strategy_obj = tf.distribute.get_strategy()
        strategy_why = "asked for (strategy=None)"
    elif isinstance(strategy, tf.distribute.Strategy):
        strategy_obj = strategy
        strategy_why = "given by the caller"
    else:
        raise ValueError(f"strategy={strategy!r}: use 'auto', 'mirrored', None or a tf.distribute.Strategy.")
    n_replicas = int(strategy_obj.num_replicas_in_sync)

    # Precision
    if mixed_precision == "auto":
        if cc is not None and cc >= (8, 0):
            precision = "mixed_bfloat16"
            precision_why = (f"compute capability {cc[0]}.{cc[1]} >= 8.0 has bfloat16 tensor cores; "
                             "bfloat16 needs no loss scaling; the output layer stays float32")
        elif cc is not None and cc >= (7, 0):
            precision = "mixed_float16"
            precision_why = (f"compute capability {cc[0]}.{cc[1]} >= 7.0 has float16 tensor cores; "
                             "the loss is scaled to avoid underflow; the output layer stays float32")
        elif cc is not None:
            precision = "float32"
            precision_why = f"compute capability {cc[0]}.{cc[1]} < 7.0 gains nothing from float16"
        else:
            precision = "float32"
            precision_why = "a CPU gains nothing from mixed precision (pass mixed_precision='mixed_bfloat16' to try)"
    elif mixed_precision in (False, None, "float32", "off"):
        precision, precision_why = "float32", "asked for"
    elif mixed_precision is True:
        precision = "mixed_bfloat16" if (cc is None or cc >= (8, 0)) else "mixed_float16"
        precision_why = "asked for (mixed_precision=True); the output layer stays float32"
    elif mixed_precision in _MIXED_POLICIES:
        precision, precision_why = mixed_precision, "asked for; the output layer stays float32"
    else:
        raise ValueError(
            f"mixed_precision={mixed_precision!r}: use 'auto', True, False, 'mixed_float16' or 'mixed_bfloat16'."
        )

    # XLA
    if jit_compile == "auto":
        if n_gpus == 0:
            xla, xla_why = False, "measured slower than oneDNN kernels on CPU for small CNNs (benchmarks/train.py)"
        elif n_replicas > 1:
            xla, xla_why = False, "Keras turns XLA off under tf.distribute"
        else:
            xla, xla_why = True, "fuses ops on the GPU (Keras' default there too)"
    elif jit_compile in (True, False):
        xla, xla_why = bool(jit_compile), "asked for"
    else:
        raise ValueError(f"jit_compile={jit_compile!r}: use 'auto', True or False.")

    if deterministic:
        det_why = DETERMINISM_COST
    else:
        det_why = ("a seed alone makes CPU runs repeat exactly; GPU kernels may still differ in the "
                   "last bits (deterministic=True fixes that, at a cost)")

    return DevicePlan(
        device=device,
        device_type="GPU" if n_gpus else "CPU",
        n_gpus=n_gpus,
        compute_capability=cc,
        precision=precision,
        precision_why=precision_why,
        xla=xla,
        xla_why=xla_why,
        strategy=strategy_obj,
        strategy_why=strategy_why,
        distributed=strategy_obj is not tf.distribute.get_strategy(),
        deterministic=bool(deterministic),
        deterministic_why=det_why,
    )
