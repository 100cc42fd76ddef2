"""coursekit.data.digit_segmentation: the synthetic segmentation set of chapter 10.
The labels are checked against the documented rule, written here a second time as a plain
per-pixel loop, and on hand-made digits whose answer is known."""

import numpy as np
import pytest

from coursekit import data


def _blocks(inks, side=28):
    """One 'digit' per class: a full side x side block of constant ink (distinct per class)."""
    images = np.stack([np.full((side, side), v, np.uint8) for v in inks])
    return images, np.arange(len(inks), dtype=np.uint8)


def _reference(n, size, lo, hi, n_classes, ink, images, labels, seed):
    """The documented rule, one pixel at a time, with the function's sequence of draws."""
    rng = np.random.default_rng(seed)
    count = rng.integers(lo, hi + 1, size=n)
    h, w = images.shape[1:]
    canvas = np.zeros((n, size, size), np.uint8)
    mask = np.full((n, size, size), n_classes, np.uint8)
    best = np.zeros((n, size, size), np.uint8)
    _reference.overlaps = 0
    draws = [(rng.integers(0, len(images), size=n), rng.integers(0, size - h + 1, size=n),
              rng.integers(0, size - w + 1, size=n)) for _ in range(hi)]
    for i in range(n):
        for slot in range(count[i]):
            pick, top, left = (d[i] for d in draws[slot])
            for r in range(h):
                for c in range(w):
                    v, y, x = images[pick, r, c], top + r, left + c
                    _reference.overlaps += int(v >= ink and best[i, y, x] >= ink)
                    if v >= ink and v >= best[i, y, x]:
                        mask[i, y, x] = labels[pick]
                    best[i, y, x] = max(best[i, y, x], v)
                    canvas[i, y, x] = max(canvas[i, y, x], v)
    return canvas, mask


def test_mnist_canvases_follow_the_documented_rule_pixel_by_pixel():
    (x, y), _ = data.load("mnist", quiet=True)
    images, labels = x[:300], y[:300]
    got = data.digit_segmentation(6, size=40, digits_per_image=(2, 4), source=(images, labels), seed=3)
    want = _reference(6, 40, 2, 4, 10, 128, images, labels, seed=3)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])
    # Inked strokes of two digits do cross on these canvases: the overlap rule was exercised.
    assert _reference.overlaps > 50


def test_where_digits_overlap_the_most_ink_wins_and_faint_ink_is_background():
    images, labels = _blocks([200, 150, 90])               # class 2 is fainter than the ink level
    x, m = data.digit_segmentation(200, size=40, digits_per_image=(1, 3), source=(images, labels),
                                   n_classes=3, seed=1)
    # The canvas is the max of the inks; each ink belongs to one class, so the label is known.
    expect = np.select([x == 200, x == 150], [0, 1], default=3)
    np.testing.assert_array_equal(m, expect)
    assert all((x == v).any() for v in (200, 150, 90))


def test_every_pixel_is_labelled_with_a_known_class_and_seeds_repeat():
    x, m = data.digit_segmentation(500, size=48, n_classes=4, seed=7)
    assert x.shape == m.shape == (500, 48, 48) and x.dtype == m.dtype == np.uint8
    assert set(np.unique(m)) == {0, 1, 2, 3, 4}            # 4 digit classes and background = 4
    assert (m[x < 128] == 4).all() and (m[x >= 128] < 4).all()
    again = data.digit_segmentation(500, size=48, n_classes=4, seed=7)
    np.testing.assert_array_equal(again[1], m)
    other = data.digit_segmentation(500, size=48, n_classes=4, seed=8)
    assert (other[1] != m).any()


def test_count_of_digits_per_image_is_respected():
    images, labels = _blocks([255])
    x, _ = data.digit_segmentation(300, size=28, digits_per_image=(0, 0), source=(images, labels),
                                   n_classes=1, seed=0)
    assert (x == 0).all()
    x, _ = data.digit_segmentation(300, size=28, digits_per_image=(1, 1), source=(images, labels),
                                   n_classes=1, seed=0)
    assert (x == 255).all()


@pytest.mark.parametrize("kwargs, words", [
    (dict(size=20), "size >= 28"),
    (dict(digits_per_image=(3, 1)), "least"),
    (dict(ink=0), "1..255"),
    (dict(split="valid"), "'train' or 'test'"),
    (dict(source=(np.zeros((2, 28, 28)), np.zeros(2))), "uint8"),
])
def test_bad_arguments_say_what_to_do(kwargs, words):
    kwargs.setdefault("source", _blocks([255]) if "split" not in kwargs else None)
    with pytest.raises(ValueError, match=words.replace("(", r"\(")):
        data.digit_segmentation(4, **kwargs)
