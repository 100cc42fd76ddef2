"""Hidden checks of lab 10, on the instructor's side only (never copied to labs/).

Each step draws its probes from a generator seeded at grading time. Expected values come
from TensorFlow (``tf.nn.conv2d_transpose``), Keras (``keras.metrics.MeanIoU``), the bilinear
formula written out here, and, for the two models, from judging the returned model in this
trusted process: the twin against the classifier it was made from (rebuilt here from the same
seed by the lab's given builder), the U-Net (trained by the student's function in the sandbox)
by its structure and its mean IoU on canvases of unseen digits.
TensorFlow is imported inside the probe functions only.
"""

import json
import pathlib

import numpy as np

from coursegrader import Probe, Step

HERE = pathlib.Path(__file__).resolve().parent
# The U-Net band (coursekit.checks.fcn.MIN_UNET_MEAN_IOU): the solution's recipe, trained on
# 1,000 canvases drawn with a seed and measured on 300 canvases of MNIST's test digits, reached a
# mean IoU of 0.579 +- 0.029 over 10 seeds (0.510 to 0.612), in about 10 s of CPU each; a
# network that predicts background everywhere scores about 0.24. The band's floor, 0.45, is
# 2 standard deviations below the lowest seed.


def _given(name):
    """A function given in the lab's dense_to_conv cell (the classifier builder), run here."""
    import keras

    nb = json.loads((HERE / "lab10_fcn.ipynb").read_text())
    cell = next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == "dense_to_conv")
    namespace = {"np": np, "keras": keras, "__name__": "lab10_given"}
    exec(compile("".join(cell["source"]), "<lab10 given>", "exec"), namespace)  # noqa: S102 - trusted source
    return namespace[name]


def twins(rng):
    """Three seeded classifiers, the twin judged on their size and on larger canvases."""
    small_classifier = _given("small_classifier")
    from coursekit.checks import twin_problem

    variants = [(32, 10), (10,), (24, 16, 5), (12, 7)]
    probes = []
    for number in rng.permutation(len(variants))[:3]:
        seed, units, side = int(rng.integers(10_000)), variants[number], int(rng.choice([20, 24]))
        classifier = small_classifier(seed, units, side)
        images = rng.random((5, side, side, 1)).astype(np.float32)
        wide = (side, side + 4 * int(rng.integers(2, 6)))
        larger = (side + 4 * int(rng.integers(1, 4)), side + 4 * int(rng.integers(1, 4)))
        canvases = [rng.random((*shape, 1)).astype(np.float32) for shape in (wide, larger)]

        def judge(twin, classifier=classifier, images=images, canvases=canvases):
            return twin_problem(classifier, twin, images, canvases)

        probes.append(Probe(f"a classifier with {len(units)} dense layer(s)", (seed, units, side), judge=judge,
                            hint="a Dense layer after Flatten becomes a Conv2D whose kernel covers the whole map: "
                                 "reshape its weights row-major, channels last, as Flatten ordered them"))
    return probes


def _bilinear(in_ch, out_ch, size):
    """The bilinear kernel (a tent from the centre, f = ceil(size / 2)), entry by entry."""
    f = -(-size // 2)
    centre = f - 1 if size % 2 else f - 0.5
    kernel = np.zeros((size, size, out_ch, in_ch), np.float32)
    for a in range(size):
        for b in range(size):
            value = (1 - abs(a - centre) / f) * (1 - abs(b - centre) / f)
            for c in range(min(in_ch, out_ch)):
                kernel[a, b, c, c] = value
    return kernel


def bilinear(rng):
    cases = [((3, 3, 4), "upsampling by 2 (size 4)"), ((2, 2, 3), "an odd size"),
             ((1, 1, 8), "upsampling by 4 (size 8)"), ((4, 2, 4), "more input than output channels"),
             ((2, 5, 6), "more output than input channels"), ((1, 1, 1), "size 1")]
    extra = int(rng.integers(1, 5)), int(rng.integers(1, 5)), int(rng.integers(2, 9))
    cases.append((extra, "wrong values on random sizes"))
    # the axes of a Conv2D kernel, (size, size, in, out), where Conv2DTranspose's are (size, size, out, in)
    swapped = "the kernel's axes are (size, size, out, in), as Conv2DTranspose stores its weight"
    return [Probe(reason, args, expect=_bilinear(*args), rtol=1e-6, atol=1e-7,
                  mistakes={swapped: np.swapaxes(_bilinear(*args), 2, 3)}) for args, reason in cases]


def transpose(rng):
    from coursegrader.references.fcn import conv_transpose_mistakes, conv_transpose_reference

    d2l = np.array([[0.0, 1.0], [2.0, 3.0]])
    probes = [Probe("d2l's known answer", (d2l, d2l, 1), expect=conv_transpose_reference(d2l, d2l, 1), dtype=False,
                    mistakes=conv_transpose_mistakes(d2l, d2l, 1))]
    for _ in range(4):
        h, w, kh, kw = (int(v) for v in rng.integers(1, 6, size=4))
        stride = int(rng.integers(1, 4))
        x, k = rng.normal(size=(h, w)), rng.normal(size=(kh, kw))
        probes.append(Probe("wrong values on random inputs", (x, k, stride),
                            expect=conv_transpose_reference(x, k, stride), rtol=1e-6, atol=1e-9, dtype=False,
                            mistakes=conv_transpose_mistakes(x, k, stride)))
    x, small, large = rng.normal(size=(3, 4)), rng.normal(size=(2, 2)), rng.normal(size=(4, 3))
    probes += [Probe("a stride larger than the kernel (gaps)", (x, small, 3),
                     expect=conv_transpose_reference(x, small, 3), rtol=1e-6, atol=1e-9, dtype=False),
               Probe("overlapping copies (kernel larger than the stride)", (x, large, 2),
                     expect=conv_transpose_reference(x, large, 2), rtol=1e-6, atol=1e-9, dtype=False)]
    x32 = rng.normal(size=(4, 3)).astype(np.float32)
    k32 = rng.normal(size=(3, 3)).astype(np.float32)
    probes.append(Probe("float32 inputs", (x32, k32, 2), expect=conv_transpose_reference(x32, k32, 2),
                        rtol=1e-5, atol=1e-5, dtype=False))
    return probes


def iou(rng):
    from coursegrader.references.fcn import mean_iou_reference

    cases = [(np.array([0, 0, 1, 1, 2]), np.array([0, 1, 1, 1, 0]), 4, "a class absent from labels and predictions"),
             (np.array([0, 0, 1, 1]), np.array([0, 2, 1, 1]), 3, "a class that is only predicted"),
             (np.array([2, 2, 1, 0]), np.array([1, 1, 1, 0]), 3, "a class that is only in the labels"),
             (np.array([1, 1, 1]), np.array([1, 1, 1]), 6, "one class present, right everywhere")]
    maps = rng.integers(0, 5, size=(2, 9, 7)), rng.integers(0, 5, size=(2, 9, 7))
    cases.append((*maps, 8, "batches of label maps, several classes absent"))
    truth = rng.integers(0, 40, size=(3, 16, 16)).astype(np.uint8)
    guess = np.where(rng.random(truth.shape) < 0.7, truth, rng.integers(0, 40, size=truth.shape)).astype(np.uint8)
    cases.append((truth, guess, 40, "uint8 label maps with 40 classes"))
    rule = "average the IoU over the classes whose union is not empty (keras.metrics.MeanIoU's convention)"
    return [Probe(reason, (t, p, n), expect=mean_iou_reference(t, p, n), rtol=1e-6, atol=1e-9, dtype=False,
                  hint=rule) for t, p, n, reason in cases]


def unet(rng):
    """The student's function trains on 1,000 canvases drawn here; the returned model is judged
    by its structure, then by its mean IoU on 300 canvases of MNIST's test digits."""
    from coursekit.checks import held_out_mean_iou, segmentation_canvases, unet_problem
    from coursekit.checks.fcn import MIN_UNET_MEAN_IOU

    seed = int(rng.integers(10_000))
    images, labels = segmentation_canvases(1000, 3, seed)

    def judge(model):
        problem = unet_problem(model, 4)
        if problem:
            return problem
        score = held_out_mean_iou(model, 4, seed + 1)
        if score < MIN_UNET_MEAN_IOU:
            return (f"its mean IoU on canvases of unseen digits is {score:.3f}; the solution's recipe "
                    f"reaches {MIN_UNET_MEAN_IOU} or more on every seed measured")
        return None

    return [Probe("a U-Net trained on the canvases", (images, labels, 4), judge=judge)]


# bilinear_kernel comes first here; train_unet gets the reference mean_iou (a student may watch
# a validation set with it), the step the adversarial corpus reuses. The notebook keeps the
# chapter's order.
STEPS = [
    Step("bilinear_kernel", bilinear, call="bilinear_kernel", numpy_only=True),
    Step("dense_to_conv", twins, call="twin_for_grading", timeout=90, memory_mb=4096),
    Step("conv_transpose2d", transpose, call="conv_transpose2d", numpy_only=True),
    Step("mean_iou", iou, call="mean_iou", numpy_only=True),
    Step("train_unet", unet, call="train_unet", needs=("mean_iou",), timeout=120, memory_mb=4096),
]
