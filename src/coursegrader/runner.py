"""The student side of grading: runs inside the sandbox, never in the grader's process.

It reads job.json (the code to define, what to call) and probes.npz (the inputs the
grader chose), runs the student's code, and writes what came back as plain data:
arrays into out.npz, everything else into out.json. Nothing here is trusted: the
grader reads these files as untrusted data (no pickles) and judges them itself.
This file imports only the standard library and NumPy, so that it runs in an
environment without TensorFlow, Keras, SciPy or Torch.

``runner.py --session`` grades the steps of one submission in one sandbox: it imports the
libraries once, then for each step that the grader sends (a line on stdin) forks a child that
runs that step in /job/current, alone, under the step's own limits. Before it reports the step
(a line on stdout) every other process in the box is killed, so what the grader then reads is
that step's and nothing else's. The grader writes a step's files just before it sends the step
and takes its results away before the next one: no step sees or touches another's.
"""

import json
import math
import numbers
import os
import resource
import signal
import sys
import time
import traceback

import numpy as np

JOB = sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("-") else "/job"
_WEIGHTS_LIMIT = 48 << 20   # bytes of weights above which a model comes back as its architecture


class _Anything:
    """Stands in for get_ipython() and coursekit's checks: any attribute, any call, does nothing."""

    def __getattr__(self, name):
        return self

    def __call__(self, *args, **kwargs):
        return self

    def __iter__(self):
        return iter(())

    def __bool__(self):
        return True


class _Lazy:
    """A module imported on first use (tf, keras), for steps where libraries are allowed."""

    def __init__(self, name):
        self._name = name

    def __getattr__(self, attr):
        import importlib

        return getattr(importlib.import_module(self._name), attr)


def _short_error(error):
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:200]}" if text else type(error).__name__


def _run(source, namespace, label):
    """Run one cell; an error is recorded, and what the cell defined before it stays defined."""
    try:
        exec(compile(source, f"<{label}>", "exec"), namespace)  # noqa: S102 - this is the sandbox
        return None
    except BaseException as error:  # noqa: BLE001 - SystemExit and KeyboardInterrupt included
        return _short_error(error)


def _decode(arg, arrays):
    if "array" in arg:
        return arrays[arg["array"]].copy()
    if "model" in arg:  # a Keras model the grader chose (a pretrained base, say): a fresh copy per call
        import keras

        return keras.saving.load_model(f"{JOB}/{arg['model']}.keras", compile=False)
    if "tuple" in arg:
        return tuple(arg["tuple"])
    return arg["value"]


def _encode(value, key, arrays):
    """Plain data for what the student returned: an ndarray (saved) or a JSON number."""
    if value is None:
        return {"kind": "none"}
    if isinstance(value, (bool, np.bool_)):
        return {"kind": "bool", "value": bool(value)}
    if isinstance(value, numbers.Integral) and not isinstance(value, np.ndarray):
        return {"kind": "int", "type": type(value).__name__, "value": int(value)}
    if isinstance(value, numbers.Real) and not isinstance(value, np.ndarray):
        number = float(value)
        return {"kind": "float", "type": type(value).__name__,
                "value": number if math.isfinite(number) else repr(number)}
    if type(value).__module__.split(".")[0] == "keras" and hasattr(value, "save"):
        # count_params() raises on a model that was never built (preprocessing layers)
        if sum(math.prod(w.shape) for w in value.weights) * 4 > _WEIGHTS_LIMIT:
            # Too large to send back whole (VGG's 553 MB): its architecture only, which the
            # grader rebuilds in safe mode with fresh weights, for structural checks.
            with open(f"{JOB}/{key}.json", "w") as f:
                f.write(value.to_json())
            return {"kind": "model", "key": key}
        value.save(f"{JOB}/{key}.keras")  # read back by the grader with safe_mode=True
        return {"kind": "model", "key": key}
    try:
        array = np.array(value, subok=False)
    except BaseException as error:  # noqa: BLE001
        return {"kind": "error", "error": f"returned a {type(value).__name__} that is not an array ({_short_error(error)})"}
    if array.dtype.kind not in "biufc":
        return {"kind": "error", "error": f"returned a {type(value).__name__} that is not a numeric array"}
    arrays[key] = array
    return {"kind": "array", "type": type(value).__name__, "key": key}


def _seed(seed, keras_too):
    """The same random state for every grading of a submission with the same seed."""
    import random

    random.seed(seed)
    np.random.seed(seed % 2**32)
    if keras_too:
        try:
            import keras
        except ImportError:
            return
        keras.utils.set_random_seed(seed % 2**32)


def main():
    with open(f"{JOB}/job.json") as f:
        job = json.load(f)
    seed, keras_too = int(job.get("seed", 0)), bool(job.get("lazy_modules"))
    _seed(seed, keras_too)
    arrays_in = np.load(f"{JOB}/probes.npz", allow_pickle=False)
    namespace = {"__name__": "__main__", "np": np, "get_ipython": _Anything(), "checks": _Anything()}
    for name in job.get("lazy_modules", []):
        namespace[name[0]] = _Lazy(name[1])
    notes = []
    for label, source in job["before"]:
        _run(source, namespace, label)
    # The steps this one builds on are the reference versions, whatever the student defined:
    # before the answer cell (its top-level code may call them) and after it (it may redefine them).
    for label, source in job["references"]:
        _run(source, namespace, label)
    error = _run(job["answer"], namespace, "your answer")
    if error:
        notes.append(f"your cell raised {error}")
    for label, source in job["references"]:
        _run(source, namespace, label)
    results, arrays_out = [], {}
    target = job["call"]
    for number, probe in enumerate(job["probes"]):
        key = f"r{number}"
        try:
            _seed(seed + number, keras_too)  # a probe's result does not depend on the ones before it
            if target:
                fn = namespace.get(target)
                if not callable(fn):
                    results.append({"kind": "error", "error": f"{target} is not defined"})
                    continue
                args = [_decode(a, arrays_in) for a in probe["args"]]
                kwargs = {k: _decode(v, arrays_in) for k, v in probe["kwargs"].items()}
                before = [a.copy() if isinstance(a, np.ndarray) else None for a in args]
                value = fn(*args, **kwargs)
                result = _encode(value, key, arrays_out)
                result["changed_input"] = any(
                    b is not None and not (a.shape == b.shape and np.array_equal(a, b, equal_nan=True))
                    for a, b in zip(args, before))
            else:
                name = probe["name"]
                result = (_encode(namespace[name], key, arrays_out) if name in namespace
                          else {"kind": "error", "error": f"{name} is not defined"})
        except BaseException as error:  # noqa: BLE001
            result = {"kind": "raised", "error": _short_error(error), "type": type(error).__name__}
        results.append(result)
    np.savez(f"{JOB}/out.npz", **arrays_out)
    with open(f"{JOB}/out.json", "w") as f:
        json.dump({"results": results, "notes": notes}, f)


def _not_dumpable():
    """Other processes of the same user can then neither read this one's memory nor open its
    pipes (/proc/PID/fd), so a step cannot forge the reports of the session."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0
    except (OSError, AttributeError):
        pass


def _step_child(folder, timeout, memory_mb):
    """In the forked child: the step's limits and files, then the step itself; never returns."""
    code = 3
    try:
        os.setsid()
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)  # the session's report pipe is not this step's to write
        err = os.open(f"{folder}/stderr.txt", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(err, 2)
        cpu = int(timeout) + 1
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_AS, (memory_mb << 20, memory_mb << 20))
        global JOB
        JOB = folder
        main()
        code = 0
    except BaseException:  # noqa: BLE001 - the grader reads the missing out.json as a crash
        traceback.print_exc()
    finally:
        os._exit(code)


def _kill_the_rest(child, boxed):
    """The step's process group; in the box (its own PID namespace), every process but this one and
    the namespace's init, daemons that left the group included."""
    for pid in ([int(p) for p in os.listdir("/proc") if p.isdigit()] if boxed else []):
        if pid not in (1, os.getpid()):
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    try:
        os.killpg(child, signal.SIGKILL)
    except OSError:
        pass


def _wait(child, timeout):
    """(exit status as subprocess reports it, timed out?) of the step's process."""
    deadline = time.monotonic() + timeout
    while True:
        pid, status = os.waitpid(child, os.WNOHANG)
        if pid:
            return (-os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)), False
        if time.monotonic() > deadline:
            return None, True
        time.sleep(0.02)


def session(folder, boxed, warm):
    """Grade steps sent on stdin, one at a time, each in a forked child (see the module docstring)."""
    _not_dumpable()
    for name in warm:  # the slow imports, once for all the steps
        try:
            __import__(name)
        except Exception:  # noqa: BLE001 - a library the step may not use (hidden) or lacks
            pass
    report = os.fdopen(os.dup(1), "w")
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    report.write("ready\n")
    report.flush()
    for line in sys.stdin:
        step = json.loads(line)
        start = time.monotonic()
        child = os.fork()
        if child == 0:
            report.close()
            _step_child(folder, step["timeout"], step["memory_mb"])
        returncode, timed_out = _wait(child, step["timeout"])
        _kill_the_rest(child, boxed)
        if timed_out:
            os.waitpid(child, 0)
        report.write(json.dumps({"returncode": returncode, "timed_out": timed_out,
                                 "seconds": time.monotonic() - start}) + "\n")
        report.flush()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--session"]:
        session(sys.argv[2], sys.argv[3] == "boxed", [m for m in sys.argv[4:] if m])
        sys.exit(0)
    try:
        main()
    except BaseException:  # noqa: BLE001 - the grader reads the missing out.json as a crash
        traceback.print_exc()
        sys.exit(3)
