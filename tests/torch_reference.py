"""Files for the converter's parity tests, from the PyTorch reference of the release.

The network is benchmarks/reference/torch_release.py (the release layout, written
from docs/design.md); this script saves it in every format the converter reads.

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
import sys
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
from torch import nn


# The reference lives in tools/ (no part of the jsymnet package, which would start Jittor
# in this torch process).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from reference.torch_release import ReleaseNet, counts, randomise  # noqa: E402

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
