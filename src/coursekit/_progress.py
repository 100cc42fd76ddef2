"""Training progress that suits the place: one updating line per epoch in a notebook, a
Keras progress bar in a terminal, one line per epoch in a log file."""

from __future__ import annotations

import sys
import time


def in_notebook() -> bool:
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    try:
        ip = shell.get_ipython()
    except Exception:  # pragma: no cover - IPython without a shell
        return False
    if ip is None:
        return False
    return ("IPKernelApp" in getattr(ip, "config", {}) or "ZMQ" in type(ip).__name__
            or type(ip).__module__.startswith("google.colab"))


def _make_epoch_line(keras):
    class EpochLine(keras.callbacks.Callback):
        """One line per epoch, updated in place at most twice a second: readable in a notebook
        and in the executed book, where a Keras progress bar leaves hundreds of lines."""

        def __init__(self, epochs, interval=0.5):
            super().__init__()
            self.epochs = epochs
            self.interval = interval

        def _text(self, epoch, done, logs, final):
            steps = self.params.get("steps") or 0
            parts = [f"Epoch {epoch + 1}/{self.epochs}"]
            if not final and steps:
                filled = int(20 * min(done, steps) / steps)
                parts.append(f"[{'=' * filled}{'.' * (20 - filled)}] {min(done, steps)}/{steps}")
            parts.append(f"{time.perf_counter() - self.t0:.1f}s")
            parts += [f"{k} {v:.4g}" for k, v in (logs or {}).items() if isinstance(v, (int, float))]
            return "  ".join(parts)

        def on_epoch_begin(self, epoch, logs=None):
            from IPython.display import Pretty, display

            self.t0 = self.last = time.perf_counter()
            self.epoch = epoch
            self.handle = display(Pretty(self._text(epoch, 0, None, False)), display_id=True)

        def on_train_batch_end(self, batch, logs=None):
            now = time.perf_counter()
            if now - self.last >= self.interval:
                from IPython.display import Pretty

                self.last = now
                self.handle.update(Pretty(self._text(self.epoch, batch + 1, logs, False)))

        def on_epoch_end(self, epoch, logs=None):
            from IPython.display import Pretty

            self.handle.update(Pretty(self._text(epoch, 0, {k: float(v) for k, v in (logs or {}).items()}, True)))

    return EpochLine


def progress(verbose, epochs, keras):
    """(keras_verbose, extra_callbacks) for verbose='auto' | 0 | 1 | 2."""
    if verbose == "auto":
        if in_notebook():
            return 0, [_make_epoch_line(keras)(epochs)]
        return (1 if sys.stdout.isatty() else 2), []
    return int(verbose), []
