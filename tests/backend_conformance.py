"""Every Jittor operator signature the network uses, against NumPy, on this process's backend.

Run by tests/test_backends.py with ``use_mkl=1`` (oneDNN) in both feature layouts
(``JSYMNET_LAYOUT=nhwc``, what oneDNN runs by default, and ``nchw``) and with
``use_mkl=0`` (Jittor's own kernels, NCHW), each in its own process, because Jittor
reads ``use_mkl`` once, at import::

    use_mkl=0 python tests/backend_conformance.py RESULT.json

Every case goes through the layout's own operations (``jsymnet.models.layout``), on
N x C x H x W data converted in and out, against NumPy on the N x C x H x W data.
Writes ``{"onednn": bool, "layout": name, "errors": {case: max abs error}}`` to
RESULT.json (a file, not stdout: a process whose Jittor compiled new kernels can lose
its buffered stdout).
Jittor 1.3.11 without oneDNN got the grouped stride-2 transposed convolution
wrong (the Haar codec then lost its exact inverse); every case here must agree
with NumPy on both backends.
"""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import jsymnet  # noqa: E402  (prepares Jittor first)
import jittor as jt  # noqa: E402
import numpy as np  # noqa: E402
from jittor import nn  # noqa: E402

from jsymnet.models import layout  # noqa: E402
from jsymnet.models.codec import HaarCodec, VGGCodec  # noqa: E402
from numpy_reference import conv, prelu, sigmoid  # noqa: E402

RNG = np.random.RandomState(0)


def rand(*shape):
    return RNG.randn(*shape).astype(np.float32)


def conv_transpose(x, w, pad):
    """Stride-1 transposed convolution of C_in x H x W by w (C_in x C_out x k x k): each input
    pixel scatters w[i, :, a, b] * x[i] to (h + a, w + b); then ``pad`` is cropped off."""
    cin, h, wd = x.shape
    k = w.shape[-1]
    y = np.zeros((w.shape[1], h + k - 1, wd + k - 1))
    for a in range(k):
        for b in range(k):
            y[:, a:a + h, b:b + wd] += np.einsum("io,ihw->ohw", w[:, :, a, b], x)
    return y[:, pad:y.shape[1] - pad, pad:y.shape[2] - pad]


def conv_weight_grad(x, r, k):
    """d sum(conv(x, W) * r) / dW for a stride-1 'same' convolution."""
    p = k // 2
    xp = np.pad(x, ((0, 0), (p, p), (p, p)))
    h, wd = x.shape[1:]
    return np.stack([np.stack([np.einsum("ohw,ihw->oi", r, xp[:, a:a + h, b:b + wd])
                               for b in range(k)], -1) for a in range(k)], -2)


def haar_numpy(x):
    """One Haar level on C x H x W: bands LL, LH, HL, HH of each 2x2 block [[a, b], [c, d]]."""
    a, b, c, d = x[:, 0::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 0::2], x[:, 1::2, 1::2]
    return np.concatenate([(a + b + c + d) / 4, (a - b + c - d) / 4, (a + b - c - d) / 4,
                           (a - b - c + d) / 4])


def err(ours, ref):
    ours = ours.numpy() if hasattr(ours, "numpy") else ours
    return float(np.abs(np.asarray(ours, np.float64) - ref).max())


def cases():
    out = {}
    lay = layout.active()

    def feat(a):
        """N x C x H x W NumPy data as a var in the layout."""
        return lay.to_internal(jt.array(a))

    def public(v):
        return lay.to_public(v).numpy()

    x = rand(2, 8, 12, 10)
    for cout, k in ((16, 3), (4, 1)):  # RRAM / RSCA 3x3 convs; the attention's 1x1 convs
        w, b = rand(cout, 8, k, k) * 0.2, rand(cout)
        y = public(lay.conv(feat(x), jt.array(w), jt.array(b), padding=k // 2))
        out[f"conv2d {k}x{k} pad {k // 2} bias"] = max(
            err(y[i], conv(x[i], w, b)) for i in range(2))
        # training: gradients to the input and to the weights
        r = rand(2, cout, 12, 10)
        xv, wv = jt.array(x), jt.array(w)
        y = lay.conv(lay.to_internal(xv), wv, padding=k // 2)
        gx, gw = jt.grad((y * feat(r)).sum(), [xv, wv])
        out[f"conv2d {k}x{k} grad input"] = max(
            err(gx[i], conv_transpose(r[i], w, k // 2)) for i in range(2))
        out[f"conv2d {k}x{k} grad weight"] = err(
            gw, sum(conv_weight_grad(x[i], r[i], k) for i in range(2)))
    # the VGG codec: E = conv(conv(x, W1), W2), D = convT(convT(f, W2), W1), no bias
    img = rand(2, 3, 12, 10)
    codec = VGGCodec(weights=None, channels=8, warn=False)
    w1, w2 = codec.weight1.numpy(), codec.weight2.numpy()
    f = public(codec.run_encode(feat(img)))
    out["vgg encode (conv2d 3x3, no bias)"] = max(
        err(f[i], conv(conv(img[i], w1), w2)) for i in range(2))
    fx = rand(2, 8, 12, 10)
    dec = public(codec.run_decode(feat(fx)))
    out["vgg decode (conv_transpose2d 3x3)"] = max(
        err(dec[i], conv_transpose(conv_transpose(fx[i], w2, 1), w1, 1)) for i in range(2))
    # training through the decoder: its input gradient is the encoder's convolutions
    fv, r = jt.array(fx), rand(2, 3, 12, 10)
    (gf,) = jt.grad((codec.run_decode(lay.to_internal(fv)) * feat(r)).sum(), [fv])
    out["vgg decode grad input (conv 3x3)"] = max(
        err(gf[i], conv(conv(r[i], w1), w2)) for i in range(2))
    # the transposed convolution's weight gradient (no codec trains it; the op must not lie)
    # (<r, convT(f, W)> = <conv(r, W), f>, so dW is conv's weight gradient with r as input)
    wv = jt.array(w2)
    (gw,) = jt.grad((lay.conv_transpose(feat(fx), wv, padding=1) * feat(x)).sum(), [wv])
    out["conv_transpose2d 3x3 grad weight"] = err(
        gw, sum(conv_weight_grad(x[i], fx[i], 3) for i in range(2)))
    # the Haar codec, two levels, and its exact inverse
    haar = HaarCodec(levels=2)
    enc = haar.run_encode(feat(img[:, :, :12, :8]))
    ref = np.stack([haar_numpy(haar_numpy(im)) for im in img[:, :, :12, :8]])
    out["haar encode (2 levels)"] = err(public(enc), ref)
    out["haar round trip"] = err(public(haar.run_decode(enc)), img[:, :, :12, :8])
    # the attention's pooling, PReLU, and the coupling's sigmoid / exp
    out["mean over H, W (avgpool)"] = err(public(lay.spatial_mean(feat(x))),
                                          x.mean(axis=(2, 3), keepdims=True))
    halves = [public(h) for h in lay.split(feat(x), 3)]
    out["channel split and concat"] = max(err(halves[0], x[:, :3]), err(halves[1], x[:, 3:]),
                                          err(public(lay.concat([feat(x[:, 3:]),
                                                                 feat(x[:, :3])])),
                                              np.concatenate([x[:, 3:], x[:, :3]], 1)))
    act = nn.PReLU(1, 0.2)
    out["prelu"] = err(act(jt.array(x)), prelu(x, 0.2))
    s = 2 * jt.sigmoid(jt.array(x)) - 1
    out["coupling scale exp(2 sigmoid - 1)"] = err(jt.exp(s), np.exp(2 * sigmoid(x) - 1))
    return out


def main():
    errors = cases()
    result = {"onednn": jsymnet.runtime_info()["onednn"], "layout": layout.active().name,
              "errors": errors}
    Path(sys.argv[1]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
