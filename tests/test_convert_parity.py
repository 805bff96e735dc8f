"""Parity with the PyTorch implementation of the release (benchmarks/reference/torch_release.py;
tests/torch_reference.py saves it in every format).

PyTorch builds the release network with seeded random weights (every tensor,
the zero-initialised exit convs included), saves it as the release does
(``torch.save(state_dict)``: zip, ``module.``-prefixed, legacy non-zip) and
runs it both ways; jsymnet converts each file WITHOUT torch and must give the
same outputs. torch runs in a subprocess: it is never imported into this
Jittor process (importing torch before Jittor deadlocks Jittor's compiler
workers; kept apart, the order cannot matter). Skipped when torch is absent.

One image size, 1 x 3 x 64 x 96, for every full-model run (few Jittor kernels).
"""
import importlib.util
import json
import subprocess
import sys

import jittor as jt
import numpy as np
import pytest

import jsymnet
from jsymnet.checkpoint import read_checkpoint
from jsymnet.conversion import convert
from jsymnet.torch_pickle import ConvertError, read_weights
from jsymnet.models.codec import load_vgg_codec_weights

from conftest import ROOT, SHARED_DATA

H, W = 64, 96
TOL = 1e-4
RELEASE_FILES = {"zip": "release_G.pth", "module-prefix": "release_G_module.pth",
                 "legacy": "release_G_legacy.pth"}

pytestmark = pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                                reason="PyTorch is not installed (the 'torch' extra); the "
                                       "parity reference needs it")


def photo_input():
    """The first FiveK-DPE low-light photo, resized to 64 x 96, or None without the data."""
    folder = SHARED_DATA / "fivek_dpe" / "low"
    if not folder.is_dir():
        return None
    from PIL import Image
    path = sorted(folder.glob("*.png"))[0]
    img = Image.open(path).convert("RGB").resize((W, H), Image.BICUBIC)
    arr = np.asarray(img, dtype=np.float32) / 255.0
    return np.ascontiguousarray(arr.transpose(2, 0, 1)[None]), path.name


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Run the PyTorch reference once: its files, outputs and counts."""
    root = tmp_path_factory.mktemp("torch_ref")
    inputs = {"rand": np.random.RandomState(1234).rand(1, 3, H, W).astype(np.float32)}
    photo = photo_input()
    if photo is not None:
        inputs["photo"] = photo[0]
    np.savez(root / "inputs.npz", **inputs)
    run = subprocess.run([sys.executable, str(ROOT / "tests" / "torch_reference.py"),
                          str(root / "ref"), "--seed", "0", "--inputs", str(root / "inputs.npz")],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    ref = root / "ref"
    with np.load(ref / "outputs.npz") as out:
        outputs = {k: out[k] for k in out.files}
    return {"dir": ref, "inputs": inputs, "outputs": outputs, "work": root,
            "info": json.loads((ref / "info.json").read_text()),
            "photo": photo[1] if photo else None}


@pytest.fixture(scope="module")
def converted(reference):
    """Each release file converted with the default (release-layout) config."""
    out = {}
    for name, fname in RELEASE_FILES.items():
        target = reference["work"] / f"{name}.pkl"
        report = convert(reference["dir"] / fname, target)
        assert report["kind"] == "release-G" and len(report["skipped"]) == 120
        out[name] = target
    return out


@pytest.mark.parametrize("fname,fmt", [("odd_tensors.pth", "zip"),
                                       ("odd_tensors_legacy.pth", "legacy")])
def test_reader_matches_torch_on_views_dtypes_and_scalars(reference, fname, fmt):
    state, info = read_weights(reference["dir"] / fname)
    assert info["format"] == fmt
    with np.load(reference["dir"] / "odd_tensors.npz") as expected:
        assert list(state) == list(expected.files)
        for key in expected.files:
            assert state[key].shape == expected[key].shape, key
            np.testing.assert_array_equal(state[key].astype(np.float32), expected[key],
                                          err_msg=key)
    assert state["half"].dtype == np.float16 and state["scalar_long"].dtype == np.int64


@pytest.fixture(scope="module")
def zip_model(converted):
    return jsymnet.load_model(converted["zip"])


def test_reference_has_the_release_layout(reference):
    info = reference["info"]
    assert info["tensors"] == 964
    assert info["trainable_params"] == 11_573_568
    assert info["soca_params"] == 13_944 and info["soca_tensors"] == 120


def run_both(model, x):
    with jt.no_grad():
        e = model.enhance(jt.array(x)).numpy()
        d = model.degrade(jt.array(x)).numpy()
    return e, d


def check(reference, model, name, label):
    x = reference["inputs"][name]
    enh, deg = run_both(model, x)
    ref_enh, ref_deg = reference["outputs"][f"rev_{name}"], reference["outputs"][f"fwd_{name}"]
    d_enh = float(np.abs(enh - ref_enh).max())
    d_deg = float(np.abs(deg - ref_deg).max())
    print(f"\nparity {label} / {name}: enhance vs rev max|diff| {d_enh:.3g}, degrade vs fwd "
          f"max|diff| {d_deg:.3g} (output max |y| {np.abs(ref_enh).max():.3g} / "
          f"{np.abs(ref_deg).max():.3g})")
    # the reference is far from the identity / from zero, so agreement means something
    assert np.abs(ref_enh - x).mean() > 0.1 and np.abs(ref_deg - x).mean() > 0.1
    assert d_enh < TOL, f"enhance differs from the release's reverse pass by {d_enh}"
    assert d_deg < TOL, f"degrade differs from the release's forward pass by {d_deg}"


def test_parity_zip_random_input(reference, zip_model):
    check(reference, zip_model, "rand", "zip")


def test_parity_zip_real_photo(reference, zip_model):
    if "photo" not in reference["inputs"]:
        pytest.skip(f"reference data not found at {SHARED_DATA}")
    check(reference, zip_model, "photo",
          f"zip ({reference['photo']} resized to {H}x{W})")


@pytest.mark.parametrize("variant", ["module-prefix", "legacy"])
def test_parity_other_release_file_formats(reference, converted, variant):
    model = jsymnet.load_model(converted[variant])
    check(reference, model, "rand", variant)
    ours, ref = (read_checkpoint(converted[v])["state_dict"] for v in (variant, "zip"))
    assert ours.keys() == ref.keys()
    for key in ref:
        np.testing.assert_array_equal(ours[key], ref[key], err_msg=key)


def test_vgg_seeded_random_torchvision_and_release_files_give_identical_codec(reference):
    """Random (not ImageNet) conv1_1/conv1_2, saved as torchvision's zip .pth and as the
    release's legacy vgg16.weight, convert to the same codec file."""
    work = reference["work"]
    a = convert(reference["dir"] / "vgg16_torchvision.pth", work / "codec_tv.pkl")
    b = convert(reference["dir"] / "vgg16_release.weight", work / "codec_rel.pkl")
    assert (a["kind"], a["format"]) == ("torchvision-vgg", "zip")
    assert (b["kind"], b["format"]) == ("release-vgg", "legacy")
    tv, rel = load_vgg_codec_weights(work / "codec_tv.pkl"), load_vgg_codec_weights(
        work / "codec_rel.pkl")
    # ... and equal the codec stored in the generator (its operations.0)
    convert(reference["dir"] / "release_G.pth", work / "codec_G.pkl", codec_only=True)
    from_g = load_vgg_codec_weights(work / "codec_G.pkl")
    for x, y, z in zip(tv, rel, from_g):
        np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(x, z)


@pytest.mark.parametrize("fname", ["release_G.pth", "release_G_legacy.pth"])
def test_truncated_pth_is_refused(reference, tmp_path, fname):
    data = (reference["dir"] / fname).read_bytes()
    for cut in (len(data) // 2, len(data) - 100):
        src = tmp_path / f"cut_{cut}.pth"
        src.write_bytes(data[:cut])
        out = tmp_path / "out" / "G.pkl"
        with pytest.raises(ConvertError, match="truncated|damaged"):
            convert(src, out)
        assert not out.parent.exists() or not any(out.parent.iterdir())


def test_zip_pth_with_a_corrupted_byte_fails_its_crc(reference, tmp_path):
    data = bytearray((reference["dir"] / "release_G.pth").read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside a storage record
    src = tmp_path / "flipped.pth"
    src.write_bytes(bytes(data))
    with pytest.raises(ConvertError, match="damaged"):
        convert(src, tmp_path / "G.pkl")
    assert not (tmp_path / "G.pkl").exists()


def test_pth_of_another_network_is_refused(reference, tmp_path):
    out = tmp_path / "G.pkl"
    with pytest.raises(ConvertError, match="not a file jsymnet knows") as info:
        convert(reference["dir"] / "other_network.pth", out)
    assert "conv1.weight (64, 3, 7, 7)" in str(info.value)
    with pytest.raises(ConvertError, match="4 unexpected"):
        convert(reference["dir"] / "other_network.pth", out, kind="release-G")
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_pth_with_a_misshapen_tensor_is_refused(reference, tmp_path):
    out = tmp_path / "G.pkl"
    with pytest.raises(ConvertError, match="wrong shape") as info:
        convert(reference["dir"] / "release_G_badshape.pth", out)
    assert ("operations.4.H.res2.conv2.weight is (64, 96, 3, 3), expected (64, 128, 3, 3)"
            in str(info.value))
    assert list(tmp_path.iterdir()) == []
