"""Lab 9's references, in closed form on the small probe models of ``coursekit.checks.probe_model``:
the activations of the ``"cnn"`` model by a ``tf.nn`` forward pass, CAM behind GAP -> Dense
(Zhou et al. 2016), and FGSM on a linear softmax classifier. The self-checks read their outputs,
recorded on the checks' own models (given here by their flat weights)."""

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
    kernel, bias = probe_model("linear", flat).get_layer("linear").get_weights()
    return {"the step goes down the loss: FGSM adds +eps * sign(gradient)":
            linear_fgsm_reference(kernel, bias, images, labels, -eps),
            "the result is not clipped to [0, 1]": linear_fgsm_reference(kernel, bias, images, labels, eps, None)}


SELF_CHECKS = {
    **{f"feature_extractor.{layer}": (_activation(layer), None) for layer in LAYERS},
    "grad_cam": (_cam, None),
    "fgsm": (_fgsm, _fgsm_suspects),
}
