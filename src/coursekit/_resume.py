"""Resumable training: the checkpoint callback of `coursekit.train.fit` and the state file
it keeps beside the weights.

A resumed run equals an uninterrupted one bit for bit on a CPU because the checkpoint holds
everything that decides the next step: the weights and optimizer state (``save_weights``), the
epoch (the input stream's order is a pure function of seed and epoch), and the states of the
random-number generators. Keras 3 layers that draw random numbers (Dropout, GaussianNoise,
random augmentation layers inside the model, ...) each own a ``keras.random.SeedGenerator``
whose state is a variable that ``save_weights`` leaves out; so does the global generator used by
``keras.random.*`` calls without a seed. They are saved here, in the state file.

The state file also keeps a fingerprint of the data and of the settings that shape the batches;
a resume with other data or settings stops with a message rather than mixing two runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os

import numpy as np

from coursekit._fit_data import FitData, flat

STATE = "state.json"


def read_state(directory):
    if not directory:
        return None
    path = os.path.join(directory, STATE)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def _seed_variables(model) -> list:
    # A SeedGenerator's state variable has this fixed name (keras/src/random/seed_generator.py).
    return [v for v in model.variables if v.name == "seed_generator_state"]


def _global_seed_generator(create: bool = False):
    # keras.random's generator for calls without a seed; Keras has no public getter for it.
    from keras.src.backend.common import global_state
    from keras.src.random import seed_generator

    if create:
        return seed_generator.global_seed_generator()
    return global_state.get_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR)


def rng_state(model) -> dict:
    """The states of every random-number generator that a training step may advance."""
    gen = _global_seed_generator()
    return {"layers": [np.asarray(v.numpy()).tolist() for v in _seed_variables(model)],
            "global": None if gen is None else np.asarray(gen.state.numpy()).tolist()}


def restore_rng(model, saved: dict | None) -> None:
    if not saved:
        return
    variables = _seed_variables(model)
    if len(variables) != len(saved["layers"]):
        raise ValueError(f"The checkpoint holds {len(saved['layers'])} random-number generators but the model "
                         f"has {len(variables)}: it was written for another model. Use a new checkpoint_dir.")
    for v, value in zip(variables, saved["layers"]):
        v.assign(np.asarray(value, dtype=v.dtype))
    if saved.get("global") is not None:
        gen = _global_seed_generator(create=True)
        gen.state.assign(np.asarray(saved["global"], dtype=gen.state.dtype))


def _digest(structure) -> str:
    h = hashlib.blake2b(digest_size=16)
    for leaf in flat(structure):
        arr = np.ascontiguousarray(leaf)
        h.update(f"{arr.shape}{arr.dtype.str}".encode())
        h.update(memoryview(arr).cast("B"))
    return h.hexdigest()


def _summary(part):
    if part is None:
        return None
    if part.in_memory:
        return f"{part.n} examples, digest {_digest(part.arrays)}"
    return f"dataset {part.dataset.element_spec}, {int(part.dataset.cardinality())} elements"


def fingerprint(data: FitData, **settings) -> dict:
    """What a resumed run must share with the run that wrote the checkpoint: the training and
    validation data (a digest of every byte when in memory) and the settings that shape batches."""
    return {
        "training data": _summary(data.train),
        "validation data": _summary(data.val),
        "batch_size": data.batch_size,
        "shuffle": data.shuffle,
        "steps_per_epoch": data.steps_per_epoch,
        **{k: v for k, v in settings.items()},
    }


def check_fingerprint(state: dict, now: dict, directory) -> None:
    """Stop when the checkpoint was written for other data or settings."""
    then = state.get("fingerprint")
    if then is None:
        return
    now = json.loads(json.dumps(now))  # the same types as the stored copy
    differ = [f"{key}: {then.get(key)!r} then, {now.get(key)!r} now" for key in sorted(set(then) | set(now))
              if then.get(key) != now.get(key)]
    if differ:
        raise ValueError(
            f"checkpoint_dir={os.fspath(directory)!r} holds a run with other data or settings, so it cannot "
            "be resumed: " + "; ".join(differ) + ". Pass the same data and settings to resume it, or a new "
            "checkpoint_dir (or delete this one) to start over."
        )


def _write_json_atomic(path, obj) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def resume_callback(keras):
    class Resume(keras.callbacks.Callback):
        """Saves weights + optimizer state, the epoch counter, the whole history and the early
        stopping state at every epoch end, so an interrupted run carries on where it stopped.

        Why not keras.callbacks.BackupAndRestore? It keeps no history, and it restores the epoch
        only inside fit(), too late for an input stream that must start at that epoch. This is
        the same mechanism (model.save_weights, which includes the optimizer), plus a state file
        written atomically after the weights it names, so a crash between files cannot pair one
        epoch's weights with another's counter."""

        def __init__(self, directory, state, early):
            super().__init__()
            self.directory = directory
            self.state = state
            self.early = early

        def on_train_begin(self, logs=None):
            es = self.state.get("early_stopping")
            if self.early is not None and es:
                # EarlyStopping.on_train_begin (run just before) reset these: put them back.
                for key in ("wait", "best", "best_epoch", "stopped_epoch"):
                    setattr(self.early, key, es[key])
                best = es.get("best_weights")
                if best:
                    with np.load(os.path.join(self.directory, best)) as npz:
                        self.early.best_weights = [npz[f"w{i}"] for i in range(len(npz.files))]

        def _save_weights(self, prefix, epoch):
            name = f"{prefix}-{epoch}.weights.h5"
            self.model.save_weights(os.path.join(self.directory, name), overwrite=True)
            return name

        def _commit(self, **changes):
            old = {k: self.state.get(k) for k in ("weights", "final_weights")}
            old_best = (self.state.get("early_stopping") or {}).get("best_weights")
            self.state.update(changes)
            _write_json_atomic(os.path.join(self.directory, STATE), self.state)
            keep = {self.state.get("weights"), self.state.get("final_weights"),
                    (self.state.get("early_stopping") or {}).get("best_weights")}
            for name in [*old.values(), old_best]:
                if name and name not in keep:
                    with contextlib.suppress(OSError):
                        os.remove(os.path.join(self.directory, name))

        def on_epoch_end(self, epoch, logs=None):
            history = self.state.setdefault("history", {})
            for key, value in (logs or {}).items():
                history.setdefault(key, []).append(float(value))
            changes = {"epoch": epoch + 1, "history": history, "weights": self._save_weights("epoch", epoch + 1),
                       "rng": rng_state(self.model), "finished": False}
            if self.early is not None:
                es = dict(self.state.get("early_stopping") or {})
                best_name = es.get("best_weights")
                if self.early.best_weights is not None and self.early.best_epoch != es.get("best_epoch"):
                    best_name = f"best-{epoch + 1}.npz"
                    np.savez(os.path.join(self.directory, best_name),
                             **{f"w{i}": w for i, w in enumerate(self.early.best_weights)})
                es.update(wait=int(self.early.wait), best=float(self.early.best),
                          best_epoch=int(self.early.best_epoch), stopped_epoch=int(self.early.stopped_epoch),
                          best_weights=best_name)
                changes["early_stopping"] = es
            self._commit(**changes)

        def on_train_end(self, logs=None):
            # Reached only when fit() returns normally: after early stopping or the last epoch.
            # The weights now may be the restored best ones; keep them apart from the epoch
            # weights, which are where a longer run would carry on from.
            self._commit(final_weights=self._save_weights("final", self.state.get("epoch", 0)),
                         finished=True, stopped_early=bool(self.model.stop_training))

    return Resume
