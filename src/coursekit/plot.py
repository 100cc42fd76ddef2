"""Figures the chapters and labs share: image grids, filter and feature-map
mosaics, heatmap overlays and training curves. Matplotlib only.

Every drawing function returns its matplotlib Figure and never calls
``plt.show()``. In a notebook (the inline backend) and with non-interactive
backends the figure is closed before it is returned: it is shown exactly once,
when it is the cell's last value (or with ``display(fig)``), and a loop of plots
never piles up open figures. With a GUI backend (a script) it stays open for
``plt.show()``. Pass ``ax=`` (one Axes, or one per panel) to draw into a figure
of your own instead; that figure is then left to you.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from coursekit._arrays import as_array, check_finite, describe

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


def _to_numpy(x, arg: str) -> np.ndarray:
    """An array of finite numbers, or an error naming ``arg`` (coursekit's input policy)."""
    arr = as_array(x, arg)
    check_finite(arr, arg)
    return arr


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
        raise ValueError("images: nothing to draw, got 0 images (an empty batch); pass at least one.")
    ncols = int(ncols) if ncols else min(n, max(1, math.ceil(math.sqrt(n))))
    return math.ceil(n / ncols), ncols


def _figure(nrows: int, ncols: int, size: float, figsize=None, title=None, ax=None, n=None):
    """(figure, flat axes, owned): a new grid, or the caller's ``ax`` (owned=False)."""
    plt = _plt()
    if ax is not None:
        axes = np.atleast_1d(np.asarray(ax, dtype=object)).ravel()
        need = n if n is not None else nrows * ncols
        if len(axes) < need:
            raise ValueError(f"ax: got {len(axes)} Axes for {need} panels; pass one Axes per panel.")
        for a in axes[:need]:
            a.set_axis_off()
        if title:
            axes[0].figure.suptitle(title)
        return axes[0].figure, axes, False
    figsize = figsize or (ncols * size, nrows * size + (0.4 if title else 0.0))
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False)
    for a in axes.ravel():
        a.set_axis_off()
    if title:
        fig.suptitle(title)
    return fig, axes.ravel(), True


# Backends that never show a figure by themselves: closing keeps the figure usable
# (savefig, display) and stops the notebook from showing it a second time.
_NON_INTERACTIVE = {"agg", "cairo", "pdf", "pgf", "ps", "svg", "template"}


def _release(fig):
    """Close ``fig`` unless a GUI backend will show it (see the module docstring)."""
    import matplotlib

    backend = matplotlib.get_backend().lower()
    if "inline" in backend or backend in _NON_INTERACTIVE:
        _plt().close(fig)
    return fig


def _finish(fig, owned: bool):
    """Lay out and release a figure this module created; the caller's is left alone."""
    if not owned:
        return fig
    fig.tight_layout()
    return _release(fig)


def _mosaic(tiles, cmaps, names, *, ncols, size, figsize, title, ax, **imshow):
    """One panel per tile, drawn with its colormap and titled with its name (if any)."""
    nrows, ncols = _grid(len(tiles), ncols)
    fig, axes, owned = _figure(nrows, ncols, size, figsize, title, ax, len(tiles))
    for a, tile, cmap, name in zip(axes, tiles, cmaps, names):
        a.imshow(tile, cmap=cmap, **imshow)
        if name:
            a.set_title(name, fontsize=9)
    return _finish(fig, owned)


def image_grid(
    images,
    titles: Sequence[str] | None = None,
    *,
    ncols: int | None = None,
    cmap: str | None = None,
    size: float = 1.6,
    figsize=None,
    title: str | None = None,
    ax=None,
):
    """Draw images in a grid.

    Parameters
    ----------
    images : array-like
        A batch (N, H, W), (N, H, W, 1), (N, H, W, 3) or (N, H, W, 4), or ONE
        image (H, W), (H, W, 1), (H, W, 3): e.g. ``x_train[0]`` of MNIST
        (28, 28, 1) draws one image. Any real dtype; float RGB outside [0, 1]
        (0..255, or preprocessed) is min-max scaled for display, grey images use
        the grey colormap with matplotlib's own scaling.
    titles : sequence of str, optional
        One title per image (e.g. the labels).
    ncols : int, optional
        Columns of the grid; default about sqrt(N).
    cmap : str, optional
        Colormap for one-channel images (default "gray").
    size : float
        Inches per tile when ``figsize`` is not given.
    figsize : (float, float), optional
    title : str, optional
        A title over the whole figure.
    ax : matplotlib Axes or sequence of Axes, optional
        Draw into these (one per image) instead of a new figure.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> x = np.random.default_rng(0).random((6, 28, 28, 1))
    >>> fig = image_grid(x, titles=list("abcdef"), ncols=3)
    >>> len([a for a in fig.axes if a.images])
    6
    >>> len([a for a in image_grid(x[0]).axes if a.images])
    1
    """
    images = _to_numpy(images, "images")
    if images.dtype == object or images.ndim < 2 or images.ndim > 4:
        raise ValueError(
            f"images: expected one image (H, W[, C]) or a batch (N, H, W[, C]); got shape "
            f"{images.shape}."
        )
    if images.ndim == 2 or (images.ndim == 3 and images.shape[-1] in (1, 3, 4)):
        images = images[None]  # one image: (H, W), (H, W, 1), (H, W, 3) or (H, W, 4)
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"titles: got {len(titles)} titles for {len(images)} images; give one per image.")
    shown = [_displayable(image) for image in images]
    names = [str(t) for t in titles] if titles is not None else [""] * len(images)
    return _mosaic([tile for tile, _ in shown], [cmap or default for _, default in shown], names,
                   ncols=ncols, size=size, figsize=figsize, title=title, ax=ax)


def heatmap_overlay(image, heatmap, *, alpha: float = 0.45, cmap: str = "jet") -> np.ndarray:
    """Blend one heatmap over one image, as an array (no figure).

    Parameters
    ----------
    image : array-like
        (H, W), (H, W, 1), (H, W, 3) or (H, W, 4); RGB outside [0, 1] is min-max scaled.
    heatmap : array-like
        (h, w) in [0, 1] (clipped), resized to (H, W) by nearest neighbour.
    alpha : float
        Weight of the coloured heatmap, in [0, 1].
    cmap : str
        Matplotlib colormap name.

    Returns
    -------
    numpy.ndarray
        float32 RGB (H, W, 3) in [0, 1].

    Examples
    --------
    >>> heatmap_overlay(np.zeros((4, 4)), np.ones((2, 2))).shape
    (4, 4, 3)
    """
    plt = _plt()
    image, _ = _displayable(_to_numpy(image, "image"))
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    image = image[..., :3]
    heatmap = np.asarray(_to_numpy(heatmap, "heatmap"), dtype=np.float32)
    if heatmap.ndim != 2:
        raise ValueError(
            f"heatmap: a heatmap is (H, W); got shape {heatmap.shape}. Pass one map, e.g. maps[i]."
        )
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
    ax=None,
):
    """Heatmaps (e.g. from coursekit.cam) blended over their images.

    Parameters
    ----------
    images : array-like
        (N, H, W[, C]) images, or one image (H, W[, C]).
    heatmaps : array-like
        (N, h, w) maps in [0, 1] (values outside are clipped), or one (h, w);
        resized to the image by nearest neighbour when the size differs.
    titles : sequence of str, optional
        One per image.
    alpha : float
        Weight of the heatmap in the blend, in [0, 1].
    cmap : str
        Colormap of the heatmap.
    ncols : int, optional
        Columns of the grid.
    show_images : bool
        Put each plain image before its overlay.
    size, figsize, title, ax :
        As in :func:`image_grid` (``ax``: one Axes per tile).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> x = np.random.default_rng(0).random((2, 16, 16, 3))
    >>> fig = overlay(x, np.ones((2, 16, 16)) * 0.5, titles=["a", "b"])
    >>> len(fig.axes)
    2
    """
    images, heatmaps = _to_numpy(images, "images"), _to_numpy(heatmaps, "heatmaps")
    if heatmaps.ndim == 2:
        heatmaps = heatmaps[None]
    if images.ndim == 2 or (images.ndim == 3 and len(heatmaps) == 1 and images.shape[:2] == heatmaps.shape[1:]):
        images = images[None]
    if len(images) != len(heatmaps):
        raise ValueError(f"heatmaps: got {len(images)} images but {len(heatmaps)} heatmaps; give one heatmap per image.")
    tiles, names = [], []
    for i, (image, heat) in enumerate(zip(images, heatmaps)):
        if show_images:
            tiles.append(_displayable(image)[0])
            names.append(str(titles[i]) if titles is not None else "")
        tiles.append(heatmap_overlay(image, heat, alpha=alpha, cmap=cmap))
        names.append("" if show_images or titles is None else str(titles[i]))
    if ncols is None and show_images:
        ncols = 2 * min(len(images), 4)
    cmaps = ["gray" if tile.ndim == 2 else None for tile in tiles]
    return _mosaic(tiles, cmaps, names, ncols=ncols, size=size, figsize=figsize, title=title, ax=ax)


def filter_mosaic(
    kernel,
    *,
    channel: int | None = None,
    ncols: int | None = None,
    max_filters: int = 64,
    size: float = 0.8,
    figsize=None,
    title: str | None = None,
    ax=None,
):
    """The filters of a conv layer as small images.

    Parameters
    ----------
    kernel : array-like or keras layer
        A kernel (kh, kw, in, out) (e.g. ``coursekit.features.filters(layer)``)
        or a Conv2D layer.
    channel : int, optional
        The input channel to draw; default: colour for 3 input channels, the mean
        over inputs otherwise.
    ncols : int, optional
        Columns of the grid.
    max_filters : int
        Draw at most this many (the first ones).
    size, figsize, title, ax :
        As in :func:`image_grid`.

    Each filter is scaled to its own [0, 1] range.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = filter_mosaic(np.random.default_rng(0).normal(size=(3, 3, 1, 8)))
    >>> len([a for a in fig.axes if a.images])
    8
    """
    if hasattr(kernel, "kernel"):
        from coursekit.features import filters

        kernel = filters(kernel)
    kernel = _to_numpy(kernel, "kernel").astype(np.float32)
    if kernel.ndim != 4:
        raise ValueError(
            f"kernel: a conv kernel is (kh, kw, in, out); got shape {kernel.shape}. Pass "
            "coursekit.features.filters(layer) or the Conv2D layer itself."
        )
    n = min(kernel.shape[-1], int(max_filters))
    tiles = [_filter_tile(kernel[..., i], channel) for i in range(n)]
    cmaps = ["gray" if tile.ndim == 2 else None for tile in tiles]
    return _mosaic(tiles, cmaps, [""] * n, ncols=ncols, size=size, figsize=figsize, title=title, ax=ax,
                   interpolation="nearest")


def _filter_tile(f: np.ndarray, channel: int | None) -> np.ndarray:
    """One filter (kh, kw, in) as an image: one input channel, RGB, or the channels' mean;
    min-max scaled to [0, 1]."""
    if channel is not None:
        f = f[..., channel]
    elif f.shape[-1] != 3:
        f = f.mean(axis=-1)
    lo, hi = f.min(), f.max()
    return (f - lo) / (hi - lo) if hi > lo else np.zeros_like(f)


def feature_map_mosaic(
    maps,
    *,
    ncols: int | None = None,
    max_maps: int = 64,
    cmap: str = "viridis",
    size: float = 1.0,
    figsize=None,
    title: str | None = None,
    ax=None,
):
    """The channels of one layer's activations as a mosaic.

    Parameters
    ----------
    maps : array-like or dict
        Activations (h, w, c) of one image; a batch of one (1, h, w, c), or a
        dict {layer name: maps} with one layer (from
        ``coursekit.features.feature_maps``; the name becomes the title).
    ncols : int, optional
    max_maps : int
        Draw at most this many channels (the first ones).
    cmap : str
        Colormap; each channel uses matplotlib's own min-max scaling.
    size, figsize, title, ax :
        As in :func:`image_grid`.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = feature_map_mosaic(np.random.default_rng(0).random((8, 8, 4)))
    >>> len([a for a in fig.axes if a.images])
    4
    """
    if isinstance(maps, dict):
        if len(maps) != 1:
            raise ValueError(
                f"feature_map_mosaic draws one layer; got {len(maps)} ({list(maps)}). "
                "Pass maps[name] for the layer you want."
            )
        ((name, maps),) = maps.items()
        title = title or name
    maps = _to_numpy(maps, "maps")
    if maps.ndim == 4 and maps.shape[0] == 1:
        maps = maps[0]
    if maps.ndim != 3:
        raise ValueError(
            f"maps: feature maps of one image are (h, w, channels); got shape {maps.shape}. "
            "For a batch pass maps[i]."
        )
    n = min(maps.shape[-1], int(max_maps))
    tiles = [maps[..., i] for i in range(n)]
    return _mosaic(tiles, [cmap] * n, [""] * n, ncols=ncols, size=size, figsize=figsize, title=title, ax=ax)


def training_curves(history, metrics=None, *, ax=None, title=None, figsize=None):
    """Plot training curves: one panel per metric, train and validation together.

    Parameters
    ----------
    history : keras.callbacks.History or dict
        From ``model.fit`` or ``coursekit.train.fit``, or its ``.history`` dict
        {name: per-epoch values}.
    metrics : str or sequence of str, optional
        Names to plot; default every logged name without a ``val_`` prefix
        (learning rate left out), loss first.
    ax : Axes or sequence of Axes, optional
        One per metric, to draw into.
    title : str, optional
    figsize : (float, float), optional

    Returns
    -------
    matplotlib.figure.Figure
        Epochs run from 1 on the x axis; the best validation epoch (lowest loss
        or error, highest otherwise) is marked by a dotted line.

    Examples
    --------
    >>> fig = training_curves({"loss": [1.0, 0.5], "val_loss": [1.1, 0.7]})
    >>> len(fig.axes)
    1
    """
    values = getattr(history, "history", history)
    if isinstance(values, dict) and not values:
        raise ValueError("history is empty: train for at least one epoch, then pass what fit returned.")
    if not isinstance(values, dict):
        raise TypeError(
            f"history must be a keras History (what model.fit returns) or a non-empty dict of "
            f"per-epoch values, e.g. {{'loss': [...]}}; got {describe(history)}. Pass the return "
            "value of fit."
        )
    if metrics is None:
        metrics = [k for k in values if not k.startswith("val_") and k not in ("learning_rate", "lr")]
        metrics.sort(key=lambda k: k != "loss")
    elif isinstance(metrics, str):
        metrics = [metrics]
    missing = [m for m in metrics if m not in values and f"val_{m}" not in values]
    if missing:
        raise ValueError(f"metrics: no values logged for {missing}; pick from {sorted(values)}.")
    owned = ax is None
    if owned:
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
    return _release(fig) if owned else fig  # constrained layout already: no tight_layout
