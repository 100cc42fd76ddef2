"""Figures the chapters and labs share: image grids, filter and feature-map
mosaics, heatmap overlays and training curves. Matplotlib only."""


def training_curves(history, metrics=None, *, ax=None, title=None, figsize=None):
    """Plot training curves: one panel per metric, train and validation together.

    history: a ``keras.callbacks.History`` (from ``model.fit`` or ``coursekit.train.fit``) or its
    ``.history`` dict. metrics: names to plot (default: every logged name without a ``val_``
    prefix, loss first). ax: an Axes or a sequence of Axes, one per metric, to draw into.
    Returns the Figure. The best validation epoch (lowest loss, highest otherwise) is marked.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    values = getattr(history, "history", history)
    if not isinstance(values, dict) or not values:
        raise ValueError("training_curves needs a History or a non-empty dict of per-epoch values.")
    if metrics is None:
        metrics = [k for k in values if not k.startswith("val_") and k not in ("learning_rate", "lr")]
        metrics.sort(key=lambda k: k != "loss")
    elif isinstance(metrics, str):
        metrics = [metrics]
    missing = [m for m in metrics if m not in values and f"val_{m}" not in values]
    if missing:
        raise ValueError(f"No values logged for {missing}; the history has {sorted(values)}.")
    if ax is None:
        fig, axes = plt.subplots(1, len(metrics), squeeze=False,
                                 figsize=figsize or (4.2 * len(metrics), 3.2), constrained_layout=True)
        axes = list(axes[0])
    else:
        axes = list(np.atleast_1d(ax))
        if len(axes) != len(metrics):
            raise ValueError(f"Got {len(axes)} Axes for {len(metrics)} metrics {metrics}.")
        fig = axes[0].figure
    for a, name in zip(axes, metrics):
        for key, label, style in ((name, "train", "-"), (f"val_{name}", "validation", "--")):
            if key in values:
                ys = np.asarray(values[key], dtype=float)
                a.plot(np.arange(1, len(ys) + 1), ys, style, marker="o", markersize=3, label=label)
        val = values.get(f"val_{name}")
        if val:
            lower_is_better = "loss" in name or "error" in name
            best = int(np.argmin(val) if lower_is_better else np.argmax(val))
            a.axvline(best + 1, color="0.6", lw=0.8, ls=":")
        a.set_xlabel("epoch")
        a.set_ylabel(name)
        a.grid(alpha=0.3)
        a.legend()
    if title:
        fig.suptitle(title)
    return fig
