"""A small PyTorch implementation of the authors' release layout, for parity tests only.

Written from ../shared/SPEC.md sections 1-4 and 6 (not copied from the release):
its state dict has the release's keys and shapes (964 tensors including the
unused ``soca.*``, ``operations.0..9``; 11,573,568 trainable parameters). Its
forward pass is the release's degradation, ``net(x, rev=True)`` its enhancement.

Run as a script it writes the files the parity tests convert (it runs in its
own process: torch and Jittor are kept apart, see tests/test_convert_parity.py)::

    python tests/torch_reference.py OUTDIR [--seed 0] [--inputs inputs.npz]

writes ``release_G.pth`` (zip), ``release_G_module.pth`` (``module.`` prefix),
``release_G_legacy.pth`` (legacy non-zip), ``vgg16_torchvision.pth`` and
``vgg16_release.weight`` (same random conv1_1 / conv1_2 in the two VGG key
layouts), ``other_network.pth`` and ``release_G_badshape.pth`` (for the
bad-input tests), ``odd_tensors.pth`` / ``odd_tensors_legacy.pth`` with the
expected values in ``odd_tensors.npz`` (reader coverage), ``outputs.npz`` (``fwd_<name>``, ``rev_<name>`` for every array of
the inputs file) and ``info.json`` (counts).
"""
import argparse
import json
import math
import sys
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

NUM_BLOCKS = 8
CHANNELS = 64
SPLIT = 32
ROUNDS = 3


def conv(cin, cout, k):
    return nn.Conv2d(cin, cout, k, padding=k // 2, bias=True)


class SoftAttention(nn.Module):
    """m = sigmoid(conv1x1(PReLU(conv1x1(avgpool(x))))); returns x * m (SPEC 4, Eq. 8-9)."""

    def __init__(self, channels=64, reduction=16):
        super().__init__()
        self.conv_du = nn.Sequential(conv(channels, channels // reduction, 1),
                                     nn.PReLU(1, 0.2),
                                     conv(channels // reduction, channels, 1))

    def forward(self, x):
        return x * torch.sigmoid(self.conv_du(x.mean(dim=(2, 3), keepdim=True)))


class RSCA(nn.Module):
    """x_h = conv3x3(PReLU(conv3x3(x))); out = x_h * m(x_h) + x (Eq. 7-9)."""

    def __init__(self, channels=64, hidden=128):
        super().__init__()
        self.conv1 = conv(channels, hidden, 3)
        self.prelu = nn.PReLU(1, 0.2)
        self.conv2 = conv(hidden, channels, 3)
        self.so = SoftAttention(channels)

    def forward(self, x):
        return self.so(self.conv2(self.prelu(self.conv1(x)))) + x


class RRAM(nn.Module):
    """Entry conv + PReLU, T = 3 recurrent rounds of separate RSCAs, exit conv (Eq. 5-11).

    ``soca`` is the release's leftover attention block: in the state dict,
    never run.
    """

    def __init__(self, cin=32, cout=32, mid=64):
        super().__init__()
        self.conv1 = conv(cin, mid, 3)
        self.prelu = nn.PReLU(1, 0.2)
        self.res1 = RSCA(mid)
        self.res2 = RSCA(mid)
        self.res3 = RSCA(mid)
        self.conv2 = conv(mid, cout, 3)
        self.soca = SoftAttention(mid)

    def forward(self, x):
        x_fi = self.prelu(self.conv1(x))
        h = None
        for res in (self.res1, self.res2, self.res3):
            x_fo = res(x_fi if h is None else h + x_fi)
            h = x_fo if h is None else h + x_fo
        return self.conv2(x_fo)


class InvBlock(nn.Module):
    """Affine coupling, clamp 1 (SPEC 3). Forward = degrade; rev = enhance."""

    def __init__(self, channels=CHANNELS, split=SPLIT, clamp=1.0):
        super().__init__()
        self.split, self.clamp = split, clamp
        self.F = RRAM(channels - split, split)
        self.G = RRAM(split, channels - split)
        self.H = RRAM(split, channels - split)

    def forward(self, x, rev=False):
        x1, x2 = x[:, :self.split], x[:, self.split:]
        if not rev:
            y1 = x1 + self.F(x2)
            s = self.clamp * (2 * torch.sigmoid(self.H(y1)) - 1)
            y2 = x2 * torch.exp(s) + self.G(y1)
        else:
            s = self.clamp * (2 * torch.sigmoid(self.H(x1)) - 1)
            y2 = (x2 - self.G(x1)) * torch.exp(-s)
            y1 = x1 - self.F(y2)
        return torch.cat([y1, y2], 1)


class Codec(nn.Module):
    """The frozen VGG conv1_1 / conv1_2 pair, named as in the release (``haar_weights1/2``).

    ``encodes_forward``: True for operations.0 (the release's ``Downsampling``,
    which encodes in the forward pass and decodes in the reverse one), False
    for operations.9 (``Upsampling``, the other way round).
    """

    def __init__(self, w1, w2, encodes_forward):
        super().__init__()
        self.haar_weights1 = w1
        self.haar_weights2 = w2
        self.encodes_forward = encodes_forward

    def encode(self, x):
        return F.conv2d(F.conv2d(x, self.haar_weights1, padding=1), self.haar_weights2, padding=1)

    def decode(self, f):
        return F.conv_transpose2d(F.conv_transpose2d(f, self.haar_weights2, padding=1),
                                  self.haar_weights1, padding=1)

    def forward(self, x, rev=False):
        return self.encode(x) if rev != self.encodes_forward else self.decode(x)


class ReleaseNet(nn.Module):
    """operations = [codec, 8 invertible blocks, codec]; forward degrades, rev enhances."""

    def __init__(self, num_blocks=NUM_BLOCKS):
        super().__init__()
        w1 = nn.Parameter(torch.zeros(CHANNELS, 3, 3, 3), requires_grad=False)
        w2 = nn.Parameter(torch.zeros(CHANNELS, CHANNELS, 3, 3), requires_grad=False)
        ops = [Codec(w1, w2, True)] + [InvBlock() for _ in range(num_blocks)]
        ops.append(Codec(w1, w2, False))  # the same tensors, as in the release
        self.operations = nn.ModuleList(ops)

    def forward(self, x, rev=False):
        for op in (reversed(self.operations) if rev else self.operations):
            x = op(x, rev)
        return x


def randomise(net, seed=0, std=0.02, codec_gain=0.4):
    """Seeded random values for EVERY tensor (exit convs included), small enough to stay sane.

    Codec: N(0, codec_gain * sqrt(2 / fan_in)), so that D(E(x)) keeps the
    image's scale; convs: N(0, std); biases: N(0, 0.01); PReLU slopes:
    0.2 + N(0, 0.05). With the defaults each block changes its input by about
    half its size and the outputs stay of order 1 (max about 4), so an absolute
    tolerance of 1e-4 is meaningful and the test is far from the identity.
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in net.named_parameters(remove_duplicate=True):
            if name.endswith("haar_weights1") or name.endswith("haar_weights2"):
                fan_in = p.shape[1] * p.shape[2] * p.shape[3]
                scale = codec_gain * math.sqrt(2.0 / fan_in)
                p.copy_(torch.randn(p.shape, generator=gen) * scale)
            elif p.ndim == 4:
                p.copy_(torch.randn(p.shape, generator=gen) * std)
            elif name.endswith("prelu.weight") or name.endswith("conv_du.1.weight"):
                p.copy_(0.2 + 0.05 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.01)
    return net


def counts(net):
    sd = net.state_dict()
    trainable = sum(p.numel() for p in net.parameters() if p.requires_grad)
    soca = sum(v.numel() for k, v in sd.items() if ".soca." in k)
    return {"tensors": len(sd), "trainable_params": int(trainable), "soca_params": int(soca),
            "soca_tensors": sum(1 for k in sd if ".soca." in k)}


def vgg_state_dicts(w1, w2, seed=1):
    """The same conv1_1 / conv1_2 in torchvision's and the release's VGG-16 key layouts.

    Deeper layers (conv2_1, conv2_2) are random and only there to make the
    files look like VGG-16 state dicts; they are not ImageNet weights.
    """
    gen = torch.Generator().manual_seed(seed)

    def rnd(*shape):
        return torch.randn(shape, generator=gen) * 0.05
    b1, b2 = rnd(64), rnd(64)
    c21, b21, c22, b22 = rnd(128, 64, 3, 3), rnd(128), rnd(128, 128, 3, 3), rnd(128)
    torchvision = OrderedDict([
        ("features.0.weight", w1.clone()), ("features.0.bias", b1),
        ("features.2.weight", w2.clone()), ("features.2.bias", b2),
        ("features.5.weight", c21), ("features.5.bias", b21),
        ("features.7.weight", c22), ("features.7.bias", b22)])
    release = OrderedDict([
        ("conv1_1.weight", w1.clone()), ("conv1_1.bias", b1.clone()),
        ("conv1_2.weight", w2.clone()), ("conv1_2.bias", b2.clone()),
        ("conv2_1.weight", c21.clone()), ("conv2_1.bias", b21.clone()),
        ("conv2_2.weight", c22.clone()), ("conv2_2.bias", b22.clone())])
    return torchvision, release


def odd_tensors(seed=0):
    """Tensors a reader must get right: views, shared storage, other dtypes, a scalar."""
    gen = torch.Generator().manual_seed(seed + 3)
    base = torch.randn(6, 5, generator=gen)
    return OrderedDict([
        ("transposed", base.t()),                 # non-contiguous strides
        ("row_slice", base[2:4]),                 # storage offset, shares base's storage
        ("column", base[:, 3]),                   # offset and stride together
        ("base", base),
        ("half", torch.randn(3, 4, generator=gen).half()),
        ("bfloat16", torch.randn(7, generator=gen).bfloat16()),
        ("double", torch.randn(2, 2, generator=gen).double()),
        ("scalar_long", torch.tensor(12345)),
        ("empty", torch.zeros(0, 3)),
        ("param", nn.Parameter(torch.randn(4, generator=gen))),
    ])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--inputs", help="npz of N x 3 x H x W float32 arrays to run both ways")
    args = ap.parse_args(argv)
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    out = Path(args.outdir)
    out.mkdir(parents=True, exist_ok=True)
    net = randomise(ReleaseNet(), args.seed).eval()
    sd = net.state_dict()
    torch.save(sd, out / "release_G.pth")
    torch.save(OrderedDict(("module." + k, v) for k, v in sd.items()), out / "release_G_module.pth")
    torch.save(sd, out / "release_G_legacy.pth", _use_new_zipfile_serialization=False)
    tv, rel = vgg_state_dicts(sd["operations.0.haar_weights1"], sd["operations.0.haar_weights2"])
    torch.save(tv, out / "vgg16_torchvision.pth")
    torch.save(rel, out / "vgg16_release.weight", _use_new_zipfile_serialization=False)
    # for the bad-input tests: another network, and the release with one tensor misshapen
    gen = torch.Generator().manual_seed(args.seed + 2)
    torch.save(OrderedDict([("conv1.weight", torch.randn(64, 3, 7, 7, generator=gen)),
                            ("bn1.running_mean", torch.zeros(64)),
                            ("bn1.num_batches_tracked", torch.tensor(0)),
                            ("fc.weight", torch.randn(1000, 512, generator=gen))]),
               out / "other_network.pth")
    bad = OrderedDict(sd)
    bad["operations.4.H.res2.conv2.weight"] = torch.zeros(64, 96, 3, 3)
    torch.save(bad, out / "release_G_badshape.pth")
    odd = odd_tensors(args.seed)
    torch.save(odd, out / "odd_tensors.pth")
    torch.save(odd, out / "odd_tensors_legacy.pth", _use_new_zipfile_serialization=False)
    np.savez(out / "odd_tensors.npz", **{k: v.detach().float().numpy() for k, v in odd.items()})
    results = {}
    if args.inputs:
        with np.load(args.inputs) as inputs, torch.no_grad():
            for name in inputs.files:
                x = torch.from_numpy(np.ascontiguousarray(inputs[name], dtype=np.float32))
                results[f"fwd_{name}"] = net(x).numpy()
                results[f"rev_{name}"] = net(x, rev=True).numpy()
    np.savez(out / "outputs.npz", **results)
    info = counts(net)
    info["torch_version"] = torch.__version__
    (out / "info.json").write_text(json.dumps(info, indent=1))
    print(json.dumps(info))
    return 0


if __name__ == "__main__":
    sys.exit(main())
