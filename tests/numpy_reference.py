"""Independent NumPy implementation of SPEC sections 3-4, for hand-checks on tiny tensors."""
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
