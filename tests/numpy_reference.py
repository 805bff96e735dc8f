"""Independent NumPy implementation of docs/design.md#ift and #rram, for hand-checks on
tiny tensors."""
import numpy as np


def conv(x, w, b=None):
    """Stride-1 'same' convolution of a C x H x W array (kernel 1 or 3)."""
    k = w.shape[-1]
    p = k // 2
    xp = np.pad(x, ((0, 0), (p, p), (p, p)))
    h, wd = x.shape[1:]
    out = np.zeros((w.shape[0], h, wd))
    for i in range(k):
        for j in range(k):
            out += np.einsum("oc,chw->ohw", w[:, :, i, j], xp[:, i:i + h, j:j + wd])
    if b is not None:
        out += b[:, None, None]
    return out


def prelu(x, a):
    return np.where(x >= 0, x, a * x)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def rsca(x, p, prefix, attention=True):
    """Eq. 7-9: x_h = conv(PReLU(conv(x))); out = x_h * m(x_h) + x."""
    g = lambda k: p[prefix + k]  # noqa: E731
    x_h = conv(prelu(conv(x, g("conv1.weight"), g("conv1.bias")), g("prelu.weight")),
               g("conv2.weight"), g("conv2.bias"))
    if attention:
        pooled = x_h.mean(axis=(1, 2), keepdims=True)
        z = prelu(conv(pooled, g("so.conv_du.0.weight"), g("so.conv_du.0.bias")),
                  g("so.conv_du.1.weight"))
        m = sigmoid(conv(z, g("so.conv_du.2.weight"), g("so.conv_du.2.bias")))
        x_h = x_h * m
    return x_h + x


def rram(x, p, rounds, shared, attention=True):
    """Eq. 5-6, 10-11: x_fi = PReLU(conv(x)); h^1 = 0; x_fo^t = RSCA_t(h^t + x_fi)."""
    x_fi = prelu(conv(x, p["conv1.weight"], p["conv1.bias"]), p["prelu.weight"])
    h = np.zeros_like(x_fi)
    for t in range(1, rounds + 1):
        x_fo = rsca(h + x_fi, p, "res." if shared else f"res{t}.", attention)
        h = h + x_fo
    return conv(x_fo, p["conv2.weight"], p["conv2.bias"])


def torch_adam(params, grads_fn, steps, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
               clip=None):
    """``torch.nn.utils.clip_grad_norm_`` + ``torch.optim.Adam`` over a list of arrays.

    ``grads_fn(params) -> grads``. Written from torch's documented update (float32):
    g += wd p; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
    p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps). Returns the
    parameters after every step.
    """
    b1, b2 = betas
    params = [np.asarray(p, np.float32).copy() for p in params]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    history = []
    for t in range(1, steps + 1):
        grads = [np.asarray(g, np.float32) for g in grads_fn(params)]
        if clip:
            norm = np.sqrt(sum(float((g.astype(np.float64) ** 2).sum()) for g in grads))
            coef = min(1.0, clip / (norm + 1e-6))
            grads = [g * np.float32(coef) for g in grads]
        for i, p in enumerate(params):
            g = grads[i] + np.float32(weight_decay) * p if weight_decay else grads[i]
            m[i] = np.float32(b1) * m[i] + np.float32(1 - b1) * g
            v[i] = np.float32(b2) * v[i] + np.float32(1 - b2) * g * g
            denom = np.sqrt(v[i]) / np.float32(np.sqrt(1 - b2 ** t)) + np.float32(eps)
            params[i] = p - np.float32(lr / (1 - b1 ** t)) * m[i] / denom
        history.append([p.copy() for p in params])
    return history
