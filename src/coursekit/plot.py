"""Figures the chapters and labs share: image grids, filter and feature-map
mosaics, heatmap overlays and training curves. Matplotlib only.

Every function returns the matplotlib Figure (and does not call ``plt.show()``),
so a notebook displays it and a test can inspect it.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

__all__ = [
    "image_grid",
    "overlay",
    "heatmap_overlay",
    "filter_mosaic",
    "feature_map_mosaic",
    "training_curves",
]


def _plt():
    import matplotlib.pyplot as plt

    return plt


def _to_numpy(x) -> np.ndarray:
    return np.asarray(x.numpy() if hasattr(x, "numpy") else x)


def _displayable(image: np.ndarray) -> tuple[np.ndarray, str | None]:
    """An image ready for imshow, and the colormap to use (grey for one channel)."""
    image = np.asarray(image, dtype=np.float32)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        return image, "gray"
    if image.ndim != 3 or image.shape[-1] not in (3, 4):
        raise ValueError(f"Expected an image (H, W), (H, W, 1), (H, W, 3) or (H, W, 4); got {image.shape}.")
    lo, hi = float(image.min()), float(image.max())
    if lo < 0.0 or hi > 1.0:  # e.g. 0..255 or a preprocessed image: rescale for display
        image = (image - lo) / (hi - lo) if hi > lo else np.zeros_like(image)
    return image, None


def _grid(n: int, ncols: int | None) -> tuple[int, int]:
    if n < 1:
        raise ValueError("Nothing to draw: got 0 images.")
    ncols = int(ncols) if ncols else min(n, max(1, math.ceil(math.sqrt(n))))
    return math.ceil(n / ncols), ncols


def _figure(nrows: int, ncols: int, size: float, figsize=None, title=None):
    plt = _plt()
    figsize = figsize or (ncols * size, nrows * size + (0.4 if title else 0.0))
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    if title:
        fig.suptitle(title)
    return fig, axes.ravel()


def image_grid(
    images,
    titles: Sequence[str] | None = None,
    *,
    ncols: int | None = None,
    cmap: str | None = None,
    size: float = 1.6,
    figsize=None,
    title: str | None = None,
):
    """A grid of images: (N, H, W), (N, H, W, 1) or (N, H, W, 3) -> Figure."""
    images = _to_numpy(images)
    if images.ndim == 2 or (images.ndim == 3 and images.shape[-1] in (3, 4)):
        images = images[None]
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"Got {len(titles)} titles for {len(images)} images.")
    nrows, ncols = _grid(len(images), ncols)
    fig, axes = _figure(nrows, ncols, size, figsize, title)
    for i, image in enumerate(images):
        shown, default_cmap = _displayable(image)
        axes[i].imshow(shown, cmap=cmap or default_cmap)
        if titles is not None:
            axes[i].set_title(str(titles[i]), fontsize=9)
    fig.tight_layout()
    return fig


def heatmap_overlay(image, heatmap, *, alpha: float = 0.45, cmap: str = "jet") -> np.ndarray:
    """One RGB array (H, W, 3) in [0, 1]: ``heatmap`` (H, W) in [0, 1] coloured with
    ``cmap`` and blended over ``image``. The heatmap is resized if its size differs."""
    plt = _plt()
    image, _ = _displayable(_to_numpy(image))
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    image = image[..., :3]
    heatmap = np.asarray(_to_numpy(heatmap), dtype=np.float32)
    if heatmap.ndim != 2:
        raise ValueError(f"A heatmap is (H, W); got shape {heatmap.shape}.")
    if heatmap.shape != image.shape[:2]:
        rows = np.linspace(0, heatmap.shape[0] - 1, image.shape[0]).round().astype(int)
        cols = np.linspace(0, heatmap.shape[1] - 1, image.shape[1]).round().astype(int)
        heatmap = heatmap[rows][:, cols]
    colored = plt.get_cmap(cmap)(np.clip(heatmap, 0.0, 1.0))[..., :3]
    return np.clip((1.0 - alpha) * image + alpha * colored, 0.0, 1.0).astype(np.float32)


def overlay(
    images,
    heatmaps,
    titles: Sequence[str] | None = None,
    *,
    alpha: float = 0.45,
    cmap: str = "jet",
    ncols: int | None = None,
    show_images: bool = False,
    size: float = 1.8,
    figsize=None,
    title: str | None = None,
):
    """Heatmaps (e.g. from coursekit.cam) blended over their images -> Figure.

    ``images`` (N, H, W[, C]) and ``heatmaps`` (N, H, W) in [0, 1]; one image and
    one heatmap work too. ``show_images=True`` puts each plain image before its
    overlay.
    """
    images, heatmaps = _to_numpy(images), _to_numpy(heatmaps)
    if heatmaps.ndim == 2:
        heatmaps = heatmaps[None]
    if images.ndim == 2 or (images.ndim == 3 and len(heatmaps) == 1 and images.shape[:2] == heatmaps.shape[1:]):
        images = images[None]
    if len(images) != len(heatmaps):
        raise ValueError(f"Got {len(images)} images but {len(heatmaps)} heatmaps: give one heatmap per image.")
    tiles, names = [], []
    for i, (image, heat) in enumerate(zip(images, heatmaps)):
        if show_images:
            tiles.append(_displayable(image)[0])
            names.append(str(titles[i]) if titles is not None else "")
        tiles.append(heatmap_overlay(image, heat, alpha=alpha, cmap=cmap))
        names.append("" if show_images or titles is None else str(titles[i]))
    if ncols is None and show_images:
        ncols = 2 * min(len(images), 4)
    nrows, ncols = _grid(len(tiles), ncols)
    fig, axes = _figure(nrows, ncols, size, figsize, title)
    for ax, tile, name in zip(axes, tiles, names):
        ax.imshow(tile, cmap="gray" if tile.ndim == 2 else None)
        if name:
            ax.set_title(name, fontsize=9)
    fig.tight_layout()
    return fig


def filter_mosaic(
    kernel,
    *,
    channel: int | None = None,
    ncols: int | None = None,
    max_filters: int = 64,
    size: float = 0.8,
    figsize=None,
    title: str | None = None,
):
    """The filters of a conv layer as small images -> Figure.

    ``kernel`` is a kernel (kh, kw, in, out) (e.g. coursekit.features.filters) or a
    Conv2D layer. Filters over 3 input channels are drawn in colour; otherwise
    ``channel`` picks the input channel to draw (default: the mean over inputs).
    Each filter is scaled to its own [0, 1] range.
    """
    if hasattr(kernel, "kernel"):
        from coursekit.features import filters

        kernel = filters(kernel)
    kernel = _to_numpy(kernel).astype(np.float32)
    if kernel.ndim != 4:
        raise ValueError(f"A conv kernel is (kh, kw, in, out); got shape {kernel.shape}.")
    n = min(kernel.shape[-1], int(max_filters))
    fig_rows, fig_cols = _grid(n, ncols)
    fig, axes = _figure(fig_rows, fig_cols, size, figsize, title)
    for i in range(n):
        f = kernel[..., i]
        if channel is not None:
            f = f[..., channel]
        elif f.shape[-1] != 3:
            f = f.mean(axis=-1)
        lo, hi = f.min(), f.max()
        f = (f - lo) / (hi - lo) if hi > lo else np.zeros_like(f)
        axes[i].imshow(f, cmap="gray" if f.ndim == 2 else None, interpolation="nearest")
    fig.tight_layout()
    return fig


def feature_map_mosaic(
    maps,
    *,
    ncols: int | None = None,
    max_maps: int = 64,
    cmap: str = "viridis",
    size: float = 1.0,
    figsize=None,
    title: str | None = None,
):
    """The channels of one layer's activations (h, w, c) as a mosaic -> Figure.

    A batch (1, h, w, c) is accepted; a dict from coursekit.features.feature_maps
    with one layer too.
    """
    if isinstance(maps, dict):
        if len(maps) != 1:
            raise ValueError(
                f"feature_map_mosaic draws one layer; got {len(maps)} ({list(maps)}). "
                "Pass maps[name] for the layer you want."
            )
        ((name, maps),) = maps.items()
        title = title or name
    maps = _to_numpy(maps)
    if maps.ndim == 4 and maps.shape[0] == 1:
        maps = maps[0]
    if maps.ndim != 3:
        raise ValueError(f"Feature maps of one image are (h, w, channels); got shape {maps.shape}.")
    n = min(maps.shape[-1], int(max_maps))
    nrows, ncols = _grid(n, ncols)
    fig, axes = _figure(nrows, ncols, size, figsize, title)
    for i in range(n):
        axes[i].imshow(maps[..., i], cmap=cmap)
    fig.tight_layout()
    return fig


def training_curves(history, metrics=None, *, ax=None, title=None, figsize=None):
    """Plot training curves: one panel per metric, train and validation together.

    history: a ``keras.callbacks.History`` (from ``model.fit`` or ``coursekit.train.fit``) or its
    ``.history`` dict. metrics: names to plot (default: every logged name without a ``val_``
    prefix, loss first). ax: an Axes or a sequence of Axes, one per metric, to draw into.
    Returns the Figure. The best validation epoch (lowest loss, highest otherwise) is marked.
    """
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
        fig, axes = _plt().subplots(1, len(metrics), squeeze=False,
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
