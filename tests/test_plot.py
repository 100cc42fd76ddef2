"""coursekit.plot: figures for images, heatmaps, filters and feature maps."""

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from coursekit import plot  # noqa: E402

RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def shown(fig):
    """The arrays drawn in a figure's axes, in order."""
    return [im.get_array() for ax in fig.axes for im in ax.get_images()]


def test_image_grid_draws_every_image():
    images = RNG.random((5, 8, 8, 3))
    fig = plot.image_grid(images, titles=list("abcde"), ncols=3)
    assert isinstance(fig, Figure)
    assert len(shown(fig)) == 5 and len(fig.axes) == 6  # 2 x 3 grid, one left empty
    assert [ax.get_title() for ax in fig.axes[:5]] == list("abcde")
    grey = plot.image_grid(RNG.random((4, 8, 8, 1)))
    assert shown(grey)[0].shape == (8, 8) and grey.axes[0].get_images()[0].get_cmap().name == "gray"
    # 0..255 images are rescaled for display
    big = plot.image_grid((RNG.random((2, 8, 8, 3)) * 255).astype(np.uint8))
    assert 0.0 <= shown(big)[0].min() and shown(big)[0].max() <= 1.0


def test_image_grid_errors():
    with pytest.raises(ValueError, match="titles"):
        plot.image_grid(RNG.random((3, 8, 8)), titles=["a"])
    with pytest.raises(ValueError, match="0 images"):
        plot.image_grid(np.zeros((0, 8, 8)))


def test_heatmap_overlay_blends_and_resizes():
    image = np.zeros((8, 8, 3), np.float32)
    heat = np.zeros((4, 4), np.float32)
    heat[0, 0] = 1.0
    out = plot.heatmap_overlay(image, heat, alpha=0.5, cmap="gray")
    assert out.shape == (8, 8, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out[0, 0], 0.5)  # white heat over black, half and half
    np.testing.assert_allclose(out[7, 7], 0.0)
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        plot.heatmap_overlay(image, np.zeros((2, 4, 4)))


def test_overlay_one_tile_per_image():
    images, maps = RNG.random((3, 8, 8, 3)), RNG.random((3, 8, 8))
    fig = plot.overlay(images, maps, titles=["x", "y", "z"])
    assert isinstance(fig, Figure) and len(shown(fig)) == 3
    both = plot.overlay(images, maps, show_images=True)
    assert len(shown(both)) == 6
    single = plot.overlay(images[0], maps[0])
    assert len(shown(single)) == 1
    with pytest.raises(ValueError, match="one heatmap per image"):
        plot.overlay(images, maps[:2])


def test_filter_mosaic_from_a_kernel_or_a_layer():
    kernel = RNG.normal(size=(3, 3, 3, 10)).astype(np.float32)
    fig = plot.filter_mosaic(kernel)
    tiles = shown(fig)
    assert len(tiles) == 10 and tiles[0].shape == (3, 3, 3)  # RGB filters in colour
    assert tiles[0].min() == 0.0 and tiles[0].max() == 1.0
    grey = plot.filter_mosaic(RNG.normal(size=(5, 5, 8, 70)), max_filters=64)
    assert len(shown(grey)) == 64 and shown(grey)[0].shape == (5, 5)

    keras = pytest.importorskip("keras")
    layer = keras.layers.Conv2D(4, 3)
    layer.build((None, 8, 8, 2))
    assert len(shown(plot.filter_mosaic(layer, channel=1))) == 4
    with pytest.raises(ValueError, match="kh, kw, in, out"):
        plot.filter_mosaic(np.zeros((3, 3, 4)))


def test_feature_map_mosaic():
    maps = RNG.random((1, 6, 6, 12))
    fig = plot.feature_map_mosaic(maps, max_maps=8, title="conv1")
    assert len(shown(fig)) == 8 and fig._suptitle.get_text() == "conv1"
    fig = plot.feature_map_mosaic({"conv2": maps[0]})
    assert len(shown(fig)) == 12 and fig._suptitle.get_text() == "conv2"
    with pytest.raises(ValueError, match="one layer"):
        plot.feature_map_mosaic({"a": maps[0], "b": maps[0]})
    with pytest.raises(ValueError, match=r"\(h, w, channels\)"):
        plot.feature_map_mosaic(RNG.random((6, 6)))


def test_works_with_coursekit_outputs():
    keras = pytest.importorskip("keras")
    from coursekit import cam, features

    model = keras.Sequential(
        [
            keras.Input((12, 12, 3)),
            keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    images = RNG.random((2, 12, 12, 3)).astype(np.float32)
    assert len(shown(plot.overlay(images, cam.grad_cam(model, images)))) == 2
    assert len(shown(plot.feature_map_mosaic(features.feature_maps(model, images[0], "conv")))) == 4
    assert len(shown(plot.filter_mosaic(features.filters(model.get_layer("conv"))))) == 4


def test_one_image_with_a_channel_axis_draws_one_image():
    fig = plot.image_grid(RNG.random((28, 28, 1)))  # x_train[0] of MNIST
    assert len(shown(fig)) == 1 and shown(fig)[0].shape == (28, 28)


def test_figures_are_closed_after_drawing_and_still_usable(tmp_path):
    figs = [
        plot.image_grid(RNG.random((3, 8, 8))),
        plot.overlay(RNG.random((2, 8, 8, 3)), RNG.random((2, 8, 8))),
        plot.filter_mosaic(RNG.normal(size=(3, 3, 1, 4))),
        plot.feature_map_mosaic(RNG.random((6, 6, 5))),
        plot.training_curves({"loss": [1.0, 0.5], "val_loss": [1.2, 0.8]}),
    ]
    assert plt.get_fignums() == [], "a plot function left its figure open"
    for i, fig in enumerate(figs):
        fig.savefig(tmp_path / f"{i}.png")  # a closed figure still renders
        assert (tmp_path / f"{i}.png").stat().st_size > 0


def test_every_plot_function_draws_into_given_axes():
    fig, axes = plt.subplots(2, 3)
    assert plot.image_grid(RNG.random((4, 8, 8)), ax=axes) is fig
    assert plot.overlay(RNG.random((2, 8, 8)), RNG.random((2, 8, 8)), ax=axes[1]) is fig
    assert plot.filter_mosaic(RNG.normal(size=(3, 3, 1, 3)), ax=axes[0]) is fig
    assert plot.feature_map_mosaic(RNG.random((6, 6, 2)), ax=axes[1, :2]) is fig
    assert plot.training_curves({"loss": [1.0, 0.5]}, ax=axes[0, 0]) is fig
    assert plt.get_fignums() == [fig.number], "the caller's figure was closed or another one opened"
    one, ax = plt.subplots()
    plot.image_grid(RNG.random((8, 8, 3)), ax=ax)
    assert len(ax.get_images()) == 1
    with pytest.raises(ValueError, match="ax: got 1 Axes for 4 panels"):
        plot.image_grid(RNG.random((4, 8, 8)), ax=ax)


def test_a_notebook_shows_each_plot_once(monkeypatch):
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's own default: inline
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    cells = [
        "import numpy as np\nfrom coursekit import plot\nx = np.random.default_rng(0).random((4, 8, 8, 1))",
        "plot.image_grid(x)",
        "for i in range(25):\n    fig = plot.image_grid(x[i % 4])\nfig",
        "import matplotlib.pyplot as plt\nplot.overlay(x[:, :, :, 0], x[:, :, :, 0])\nlen(plt.get_fignums())",
    ]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    images = [sum("image/png" in o.get("data", {}) for o in cell.outputs) for cell in nb.cells]
    assert images == [0, 1, 1, 0], f"images shown per cell: {images}"
    warnings = [o.get("text", "") for cell in nb.cells for o in cell.outputs if o.get("name") == "stderr"]
    assert not any("More than 20 figures" in w for w in warnings), warnings
    assert nb.cells[3].outputs[-1]["data"]["text/plain"] == "0"
