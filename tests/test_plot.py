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
