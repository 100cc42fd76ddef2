"""Lab 9's references, in closed form on the small probe models of ``coursekit.checks.probe_model``:
the activations of the ``"cnn"`` model by a ``tf.nn`` forward pass, CAM behind GAP -> Dense
(Zhou et al. 2016), FGSM on a linear softmax classifier, occlusion sensitivity (Zeiler and Fergus
2014) by one forward pass per patch position, and the model-randomization test of Adebayo et al.
(2018) on it. The self-checks read their outputs, recorded on the checks' own models (given here
by their flat weights)."""

from __future__ import annotations

import numpy as np

from coursekit.checks import probe_model

LAYERS = ("conv1", "pool1", "conv2", "gap", "logits")


def vis_forward_reference(model, images) -> dict[str, np.ndarray]:
    """The activations of the ``"cnn"`` probe model, computed with ``tf.nn`` from its weights."""
    import tensorflow as tf

    k1, b1, k2, b2, dense, bias = model.get_weights()
    x = tf.constant(images, tf.float32)
    conv1 = tf.nn.relu(tf.nn.conv2d(x, k1, 1, "SAME") + b1)
    pool1 = tf.nn.max_pool2d(conv1, 2, 2, "VALID")
    conv2 = tf.nn.relu(tf.nn.conv2d(pool1, k2, 1, "SAME") + b2)
    gap = tf.reduce_mean(conv2, axis=(1, 2))
    acts = {"conv1": conv1, "pool1": pool1, "conv2": conv2, "gap": gap, "logits": gap @ dense + bias}
    return {name: np.asarray(a) for name, a in acts.items()}


def cam_reference(activations, dense_kernel, class_index) -> np.ndarray:
    """ReLU(CAM) divided by its maximum, (N, h, w): CAM = sum_k w[k, c] A_k of feature maps
    ``activations`` (N, h, w, K) followed by GAP and a Dense layer of kernel (K, classes)."""
    cam = np.einsum("nhwk,k->nhw", np.asarray(activations, np.float64),
                    np.asarray(dense_kernel, np.float64)[:, class_index])
    cam = np.maximum(cam, 0.0)
    peak = cam.max(axis=(1, 2), keepdims=True)
    return np.divide(cam, peak, out=np.zeros_like(cam), where=peak > 0).astype(np.float32)


def linear_fgsm_reference(kernel, bias, images, labels, eps, bounds=(0.0, 1.0)) -> np.ndarray:
    """FGSM on a linear classifier z = W^T x + b, in closed form: the gradient of the
    cross-entropy with respect to x is W (softmax(z) - onehot(y)). ``bounds=None`` skips
    the clip; a negative ``eps`` steps down the loss."""
    x = np.asarray(images, np.float64)
    z = x.reshape(len(x), -1) @ np.asarray(kernel, np.float64) + np.asarray(bias, np.float64)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(x)), np.asarray(labels)] -= 1.0
    grad = (p @ np.asarray(kernel, np.float64).T).reshape(x.shape)
    adv = x + eps * np.sign(grad)
    return (adv if bounds is None else np.clip(adv, *bounds)).astype(np.float32)


GREY = 0.5            # the occluder's value, mid-way in [0, 1]


def _scores(model, images, class_index, logits=False) -> np.ndarray:
    z = np.asarray(model(np.asarray(images, np.float32)), np.float64)
    if logits:
        return z[:, class_index]
    p = np.exp(z - z.max(axis=1, keepdims=True))
    return (p / p.sum(axis=1, keepdims=True))[:, class_index]


def occlusion_reference(model, images, class_index, patch, stride, fill=GREY,
                        logits=False) -> np.ndarray:
    """(N, rows, cols) float32: the drop in the softmax probability of ``class_index`` when a
    ``patch`` x ``patch`` square of value ``fill`` covers the image at each top-left corner
    (0, stride, 2 * stride, ... up to H - patch), all channels at once (``logits``: the drop
    of the logit instead, a mistake)."""
    images = np.asarray(images, np.float32)
    n, height, width = images.shape[:3]
    corners = [(i, j) for i in range(0, height - patch + 1, stride)
               for j in range(0, width - patch + 1, stride)]
    covered = np.repeat(images[None], len(corners), axis=0)   # (positions, N, H, W, C)
    for k, (i, j) in enumerate(corners):
        covered[k, :, i:i + patch, j:j + patch, :] = fill
    after = _scores(model, covered.reshape(-1, *images.shape[1:]), class_index, logits)
    drops = _scores(model, images, class_index, logits) - after.reshape(len(corners), n)
    rows = len(range(0, height - patch + 1, stride))
    return drops.T.reshape(n, rows, -1).astype(np.float32)


def randomized_copy(model, seed):
    """A copy of ``model`` whose every weight array is drawn anew from N(0, std of that array),
    with ``np.random.default_rng(seed)``, in ``get_weights()`` order (a zero bias stays zero)."""
    import keras

    rng = np.random.default_rng(seed)
    copy = keras.models.clone_model(model)
    copy.set_weights([rng.normal(0.0, np.std(w), size=w.shape).astype(np.float32)
                      for w in model.get_weights()])
    return copy


def spearman_reference(a, b) -> np.ndarray:
    """Spearman's rank correlation of each pair of rows of a and b (N, ...): the Pearson
    correlation of their ranks, tied values sharing their mean rank; 0 where a row is constant."""
    from scipy.stats import rankdata

    a = rankdata(np.reshape(a, (len(a), -1)), axis=1)
    b = rankdata(np.reshape(b, (len(b), -1)), axis=1)
    a, b = a - a.mean(axis=1, keepdims=True), b - b.mean(axis=1, keepdims=True)
    norms = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    return np.divide((a * b).sum(axis=1), norms, out=np.zeros(len(a)), where=norms > 0)


def sanity_reference(model, images, class_index, patch, stride, seed) -> np.ndarray:
    """Per image, the rank correlation between the occlusion maps of ``model`` and of its
    randomized copy: near 1 when the explanation ignores the weights (it fails the test)."""
    maps = occlusion_reference(model, images, class_index, patch, stride)
    again = occlusion_reference(randomized_copy(model, seed), images, class_index, patch, stride)
    return spearman_reference(maps, again)


# The self-checks' cases, by the probe model's flat weights.
def _activation(layer):
    return lambda flat, images: vis_forward_reference(probe_model("cnn", flat), images)[layer]


def _cam(flat, images, class_index):
    model = probe_model("cnn", flat)
    conv2 = vis_forward_reference(model, images)["conv2"]
    return cam_reference(conv2, model.get_layer("logits").get_weights()[0], class_index)


def _fgsm(flat, images, labels, eps):
    return linear_fgsm_reference(*probe_model("linear", flat).get_layer("linear").get_weights(), images, labels, eps)


def _fgsm_suspects(flat, images, labels, eps):
    return fgsm_mistakes(*probe_model("linear", flat).get_layer("linear").get_weights(), images, labels, eps)


def fgsm_mistakes(kernel, bias, images, labels, eps) -> dict:
    """{hint: what the mistake gives} for FGSM on a linear classifier."""
    return {"the step goes down the loss: FGSM adds +eps * sign(gradient)":
            linear_fgsm_reference(kernel, bias, images, labels, -eps),
            "the result is not clipped to [0, 1]": linear_fgsm_reference(kernel, bias, images, labels, eps, None)}


def _occlusion(flat, images, class_index, patch, stride):
    return occlusion_reference(probe_model("cnn", flat), images, class_index, patch, stride)


def _occlusion_suspects(flat, images, class_index, patch, stride):
    return occlusion_mistakes(probe_model("cnn", flat), images, class_index, patch, stride)


def occlusion_mistakes(model, images, class_index, patch, stride) -> dict:
    """{hint: the maps the mistake gives}."""
    drops = occlusion_reference(model, images, class_index, patch, stride)
    return {"the sign is reversed: the map is p(original) - p(occluded), a drop": -drops,
            "the occluder is black (0); the lab asks for grey, 0.5":
                occlusion_reference(model, images, class_index, patch, stride, fill=0.0),
            "the map is of logits; take the softmax probability of the class":
                occlusion_reference(model, images, class_index, patch, stride, logits=True)}


def _sanity(flat, images, class_index, patch, stride, seed):
    return sanity_reference(probe_model("cnn", flat), images, class_index, patch, stride, seed)


def _sanity_suspects(flat, images, class_index, patch, stride, seed):
    return sanity_mistakes(probe_model("cnn", flat), images, class_index, patch, stride, seed)


def sanity_mistakes(model, images, class_index, patch, stride, seed) -> dict:
    """{hint: the correlations the mistake gives}."""
    maps = occlusion_reference(model, images, class_index, patch, stride)
    again = occlusion_reference(randomized_copy(model, seed), images, class_index, patch, stride)
    pearson = [np.corrcoef(a.ravel(), b.ravel())[0, 1] for a, b in zip(maps, again)]
    return {"the model was compared with itself: randomize a copy (keras.models.clone_model), "
            "not the model": np.ones(len(images)),
            "this is Pearson's correlation of the values; Spearman's correlates their ranks":
                np.asarray(pearson)}


SELF_CHECKS = {
    **{f"feature_extractor.{layer}": (_activation(layer), None) for layer in LAYERS},
    "grad_cam": (_cam, None),
    "fgsm": (_fgsm, _fgsm_suspects),
    "occlusion": (_occlusion, _occlusion_suspects),
    "sanity_check": (_sanity, _sanity_suspects),
}
