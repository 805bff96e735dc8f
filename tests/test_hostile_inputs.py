"""Hostile and careless inputs: refused in one line, nothing run, nothing kept.

Every file here is built by hand (pickle opcodes, zip members), as an attacker would;
torch is never imported.
"""
import pickle
import re
import struct
import zipfile

import numpy as np
import pytest

import jsymnet
from conftest import ROOT, RunsCode
from jsymnet.config import ConfigError, load_config
from jsymnet.torch_pickle import ConvertError, read_pickle, read_weights
from jsymnet.models.codec import CodecWeightsError, load_vgg_codec_weights


def binunicode(text):
    data = text.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def tensor_pickle(size, stride, numel=1):
    """data.pkl of ``{"w": torch.Tensor}`` over storage "0" of ``numel`` floats, written
    opcode by opcode (protocol 2), as torch.save writes it."""
    def ints(values):
        return b"(" + b"".join(b"J" + struct.pack("<i", v) for v in values) + b"t"
    storage = (b"(" + binunicode("storage") + b"ctorch\nFloatStorage\n" + binunicode("0")
               + binunicode("cpu") + b"J" + struct.pack("<i", numel) + b"tQ")
    return (b"\x80\x02}" + binunicode("w") + b"ctorch._utils\n_rebuild_tensor_v2\n("
            + storage + b"K\x00" + ints(size) + ints(stride) + b"\x89}tRs.")


def torch_zip(path, size, stride, storage=b"\0\0\x80?", compress=None, storage_bytes=None):
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", tensor_pickle(size, stride, len(storage) // 4))
        zf.writestr("archive/byteorder", "little")
        if storage_bytes is None:
            zf.writestr("archive/data/0", storage)
        else:  # a large member streamed in, deflated
            info = zipfile.ZipInfo("archive/data/0")
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w", force_zip64=True) as f:
                chunk = b"\0" * 2 ** 20
                for _ in range(storage_bytes // len(chunk)):
                    f.write(chunk)
    return path


def test_a_well_formed_hand_made_checkpoint_reads(tmp_path):
    """The builder above makes files the reader accepts: the refusals below are real."""
    state, info = read_weights(torch_zip(tmp_path / "ok.pth", (2, 2), (0, 0)))
    assert info["format"] == "zip"
    np.testing.assert_array_equal(state["w"], np.ones((2, 2), np.float32))


def test_zero_stride_tensor_bomb_is_refused(tmp_path):
    """A 160-byte storage viewed as 30000 x 30000 floats (3.6 GB) by zero strides."""
    path = torch_zip(tmp_path / "bomb.pth", (30000, 30000), (0, 0))
    assert path.stat().st_size < 2000
    with pytest.raises(ConvertError, match="zero or overlapping strides"):
        read_weights(path)


def test_deflated_storage_bomb_is_refused(tmp_path):
    path = torch_zip(tmp_path / "zipbomb.pth", (4,), (1,), storage_bytes=256 * 2 ** 20)
    assert path.stat().st_size < 2 * 2 ** 20
    with pytest.raises(ConvertError, match="compression bomb"):
        read_weights(path)


def test_a_file_cannot_poison_the_reader_for_the_next_file(tmp_path):
    """BUILD on an allowed stand-in (torch.FloatStorage) would change its dtype for every
    later file in the process; it is refused, and a clean file still reads right."""
    hostile = tmp_path / "poison.pkl"
    hostile.write_bytes(b"\x80\x02ctorch\nFloatStorage\n}" + binunicode("dtype")
                        + binunicode("f8") + b"sb.")
    with pytest.raises(ConvertError, match="tries to change"):
        read_pickle(hostile)
    for opcode_target in (b"ctorch._utils\n_rebuild_tensor_v2\n", b"ctorch\nTensor\n"):
        other = tmp_path / "poison2.pkl"
        other.write_bytes(b"\x80\x02" + opcode_target + b"N}" + binunicode("__defaults__")
                          + b"(K\x01ts\x86b0N.")  # BUILD (None, {slot: value})
        try:
            read_pickle(other)
        except ConvertError:
            pass
    state, _ = read_weights(torch_zip(tmp_path / "clean.pth", (2,), (1,),
                                      storage=np.array([1.5, -2.0], "<f4").tobytes()))
    assert state["w"].dtype == np.float32
    np.testing.assert_array_equal(state["w"], [1.5, -2.0])


def test_codec_weights_file_cannot_run_code(tmp_path, monkeypatch):
    """model.codec.weights was read with jt.load (an unrestricted pickle load)."""
    monkeypatch.chdir(tmp_path)
    evil = tmp_path / "vgg16_codec.pkl"
    evil.write_bytes(pickle.dumps({"conv1_1": RunsCode(), "conv1_2": 0}))
    with pytest.raises(CodecWeightsError, match="refusing to load it"):
        load_vgg_codec_weights(evil)
    cfg = {"model": {"codec": {"type": "vgg", "weights": str(evil)}}}
    with pytest.raises(CodecWeightsError):
        jsymnet.build_model(cfg)
    assert not (tmp_path / "PWNED").exists()


def test_no_unrestricted_pickle_load_in_the_package():
    """Every weights file goes through the restricted reader."""
    pattern = re.compile(r"\bjt\.load\(|\bjittor\.load\(|\bpickle\.loads?\(|\bUnpickler\(|"
                         r"allow_pickle\s*=\s*True|\btorch\.load\(")
    offenders = []
    for path in sorted((ROOT / "jsymnet").rglob("*.py")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line) and "RestrictedUnpickler(" not in line:
                offenders.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not offenders, offenders


@pytest.mark.parametrize("key,value,meaning", [
    ("train.optim.grad_clip", -1.0, "positive"),
    ("train.optim.weight_decay", -1e-5, "0 or more"),
    ("train.optim.eps", 0.0, "positive"),
    ("train.schedule.gamma", -0.5, "positive"),
    ("train.loss.lambda_enhance", -1.0, "0 or more"),
    ("train.loss.lambda_degrade", -1.0, "0 or more"),
    ("train.optim.betas", [0.9, 1.5], r"two numbers in \[0, 1\)"),
])
def test_config_values_are_checked_against_their_meaning(key, value, meaning):
    section, *rest = key.split(".")
    override = node = {}
    for part in [section] + rest[:-1]:
        node = node.setdefault(part, {})
    node[rest[-1]] = value
    with pytest.raises(ConfigError, match=f"'{re.escape(key)}' must (be|hold) {meaning}"):
        load_config({}, override)


def test_yaml_numbers_read_as_set_reads_them(tmp_path):
    """YAML 1.1 reads 2e-4 (no dot) as text: in a file it now means what --set means."""
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  optim:\n    lr: 2e-4\n    weight_decay: 1e-5\n")
    cfg = load_config(path)
    assert cfg["train"]["optim"]["lr"] == 2e-4 and cfg["train"]["optim"]["weight_decay"] == 1e-5
    path.write_text("train:\n  optim:\n    lr: fast\n")
    with pytest.raises(ConfigError, match="'train.optim.lr' must be float"):
        load_config(path)
    # one number rule: what a file refuses, --set refuses too (inf passed --set before)
    from jsymnet.cli import parse_set
    for text in ("inf", "nan", "fast"):
        path.write_text(f"train:\n  optim:\n    lr: {text}\n")
        with pytest.raises(ConfigError, match="'train.optim.lr' must be float"):
            load_config(path)
        with pytest.raises(ConfigError, match="'train.optim.lr' must be float"):
            load_config({}, parse_set([f"train.optim.lr={text}"]))
    assert parse_set(["train.optim.lr=2e-4"]) == {"train": {"optim": {"lr": 2e-4}}}


def _nan_checkpoint(path):
    from conftest import numpy_state, tiny_config
    model = jsymnet.build_model(tiny_config())
    state = numpy_state(model)
    key = next(k for k in state if k.endswith("F.conv1.weight"))
    state[key][0, 0, 0, 0] = np.nan
    jsymnet.save_checkpoint(path, state_dict=state, config=model.config)
    return path, model


def test_nan_weights_are_refused_not_turned_into_black_images(tmp_path, capsys):
    """A checkpoint with a NaN made tools/enhance.py write an all-black PNG and exit 0."""
    from jsymnet.cli.enhance import main
    from jsymnet.data.image_io import write_image
    path, model = _nan_checkpoint(tmp_path / "nan.pkl")
    with pytest.raises(jsymnet.CheckpointError, match="NaN or Inf"):
        jsymnet.load_model(path)
    write_image(tmp_path / "in" / "a.png", np.full((16, 16, 3), 0.2))
    rc = main([str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--weights", str(path),
               "--no-progress"])
    assert rc == 2 and "NaN or Inf" in capsys.readouterr().err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.png"))


def test_non_finite_output_fails_the_image(tmp_path):
    from jsymnet.inference import EnhanceError, run_rgb
    from conftest import tiny_config
    import jittor as jt
    model = jsymnet.build_model(tiny_config())
    name, param = next((n, p) for n, p in model.named_parameters() if n.endswith("F.conv2.bias"))
    param.assign(jt.full(param.shape, float("inf")))
    with pytest.raises(EnhanceError, match="non-finite"):
        run_rgb(model, np.full((16, 16, 3), 0.2, np.float32))


def _png(path, width, height, rows=4):
    """A gray PNG whose header says ``width`` x ``height`` (only ``rows`` rows of data)."""
    import zlib
    path.parent.mkdir(parents=True, exist_ok=True)

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * ((width + 1) * rows))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat)
                     + chunk(b"IEND", b""))
    return path


def test_decompression_bomb_is_refused_from_its_header(tmp_path, capsys, monkeypatch):
    """30000 x 30000 pixels declared in a few hundred bytes: refused before decoding."""
    from jsymnet.cli.enhance import main
    from jsymnet.data.image_io import ImageReadError, load_image
    bomb = _png(tmp_path / "in" / "bomb.png", 30000, 30000)
    assert bomb.stat().st_size < 100_000
    with pytest.raises(ImageReadError, match="900 megapixels.*--max-image-megapixels"):
        load_image(bomb)
    rc = main([str(bomb), "-o", str(tmp_path / "out"), "--no-progress"])
    assert rc == 1 and "decompression bomb" in capsys.readouterr().err
    monkeypatch.setenv("JSYMNET_MAX_IMAGE_PIXELS", "100")
    with pytest.raises(ImageReadError, match="more than the 0 megapixels"):
        load_image(_png(tmp_path / "small.png", 20, 20))


def test_animated_gif_is_refused_not_cut_to_its_first_frame(tmp_path):
    from PIL import Image
    from jsymnet.data.image_io import ImageReadError, load_image
    frames = [Image.new("RGB", (8, 8), (i * 60, 0, 0)) for i in range(3)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    with pytest.raises(ImageReadError, match="animation of 3 frames"):
        load_image(tmp_path / "anim.gif")


def test_converter_never_replaces_its_input_nor_writes_a_folder(tmp_path):
    from jsymnet.conversion import convert
    import jittor as jt
    rng = np.random.default_rng(0)
    src = tmp_path / "vgg16.pkl"
    jt.save({"features.0.weight": rng.random((64, 3, 3, 3), np.float32),
             "features.2.weight": rng.random((64, 64, 3, 3), np.float32)}, str(src))
    before = src.read_bytes()
    with pytest.raises(ConvertError, match="is the input file"):
        convert(src, src)
    with pytest.raises(ConvertError, match="is a folder"):
        convert(src, tmp_path)
    assert src.read_bytes() == before
    convert(src, tmp_path / "codec.pkl")  # and a proper output still works
    assert (tmp_path / "codec.pkl").is_file()


def test_ctrl_c_in_the_enhance_command_leaves_no_temporary_file(tmp_path):
    """Jittor's C-level SIGINT handler ended the process before Python could clean up."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from jsymnet.data.image_io import write_image
    for i in range(40):
        write_image(tmp_path / "in" / f"im{i:02d}.png", np.full((64, 64, 3), i / 50))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, str(ROOT / "tools" / "enhance.py"),
                             str(tmp_path / "in"), "-o", str(tmp_path / "out"), "--no-progress"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 300
    while time.time() < deadline and not list((tmp_path / "out").glob("*_enh.png")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted after" in err
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written and all(name.endswith("_enh.png") for name in written), written
    assert len(written) < 40


def test_absurd_model_sizes_are_refused_before_building(tmp_path):
    """A checkpoint whose config says num_blocks: 1000000 aborted after 3 GB."""
    with pytest.raises(ConfigError, match="'model.ift.num_blocks' is 1000000, more than the 256"):
        load_config({"model": {"ift": {"num_blocks": 1_000_000}}})
    from conftest import tiny_config
    model = jsymnet.build_model(tiny_config())
    cfg = dict(model.config, model=dict(model.config["model"], ift={"num_blocks": 1_000_000}))
    jsymnet.save_checkpoint(tmp_path / "huge.pkl", state_dict=model.state_dict(), config=cfg)
    with pytest.raises(jsymnet.CheckpointError, match="config stored in it is invalid.*more "
                                                       "than the 256"):
        jsymnet.load_model(tmp_path / "huge.pkl")
    import jittor as jt
    jt.save({"format": "jsymnet-checkpoint", "version": 1,
             "state_dict": {}}, str(tmp_path / "noconf.pkl"))
    with pytest.raises(jsymnet.CheckpointError, match="has no config"):
        jsymnet.load_model(tmp_path / "noconf.pkl")


BOMB_SCRIPT = """
import resource, sys
sys.path.insert(0, {root!r})
kind, path = sys.argv[1], sys.argv[2]
try:
    if kind == "image":
        from jsymnet.cli.enhance import main
        rc = main([path, "-o", path + ".out", "--no-progress"])
    else:
        from jsymnet.cli.convert import main
        rc = main([path, "-o", path + ".pkl"])
finally:
    print("PEAK_MB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
sys.exit(rc)
"""


@pytest.mark.parametrize("kind", ["image", "zero_stride", "zip"])
def test_bombs_are_refused_with_bounded_memory(kind, tmp_path):
    """Each bomb in its own process: one-line refusal, exit code, and the process's peak memory
    stays at what importing jsymnet costs (the bombs grew to 3.5-23.7 GB before)."""
    import subprocess
    import sys
    if kind == "image":
        path = _png(tmp_path / "bomb.png", 30000, 30000)
    elif kind == "zero_stride":
        path = torch_zip(tmp_path / "bomb.pth", (30000, 30000), (0, 0))
    else:
        path = torch_zip(tmp_path / "zipbomb.pth", (4,), (1,), storage_bytes=256 * 2 ** 20)
    out = subprocess.run([sys.executable, "-c", BOMB_SCRIPT.format(root=str(ROOT)), kind,
                          str(path)], capture_output=True, text=True, timeout=600)
    peak = int(re.search(r"PEAK_MB (\d+)", out.stdout).group(1))
    errors = [line for line in out.stderr.splitlines() if line.startswith("error")]
    assert out.returncode in (1, 2) and "Traceback" not in out.stderr, out.stderr[-2000:]
    assert len(errors) == 1 or (kind == "image" and "decompression bomb" in out.stderr)
    assert peak < 1500, f"{kind}: peak {peak} MB"
    assert not list(tmp_path.glob("*.pkl")) and not list(tmp_path.glob("**/*_enh.png"))


def _pair_folder(root, sizes):
    from PIL import Image
    for side, (w, h) in zip(("low", "high"), sizes):
        (root / side).mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((h, w, 3), 40, np.uint8)).save(root / side / "a.png")
        Image.fromarray(np.full((16, 16, 3), 40, np.uint8)).save(root / side / "b.png")
    return root


def test_pair_size_mismatch_is_one_line_before_any_work(tmp_path, capsys):
    """It was a traceback after enhancing, and left images/ without results.csv."""
    from conftest import tiny_config
    from jsymnet.cli.evaluate import main
    ckpt = tmp_path / "tiny.pkl"
    jsymnet.save_checkpoint(ckpt, jsymnet.build_model(tiny_config()))
    data = _pair_folder(tmp_path / "d", [(16, 12), (12, 16)])
    rc = main(["--low", str(data / "low"), "--high", str(data / "high"), "--weights", str(ckpt),
               "--out", str(tmp_path / "o"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err and "differ in size" in err
    assert "a: " in err and "16x12" in err and "12x16" in err
    assert not (tmp_path / "o" / "images").exists()


def test_unwritable_output_folder_is_found_before_any_image(tmp_path, capsys):
    """An output folder that cannot be made is reported first, not after all the work."""
    from conftest import tiny_config
    from jsymnet.cli.enhance import main as enhance_main
    from jsymnet.cli.evaluate import main as test_main
    ckpt = tmp_path / "tiny.pkl"
    jsymnet.save_checkpoint(ckpt, jsymnet.build_model(tiny_config()))
    data = _pair_folder(tmp_path / "d", [(16, 16), (16, 16)])
    (tmp_path / "plain_file").write_text("x")
    blocked = tmp_path / "plain_file" / "out"      # below a file: no one can make it, not root
    rc = enhance_main([str(data / "low"), "-o", str(blocked), "--weights", str(ckpt),
                       "--no-progress"])
    err = capsys.readouterr()
    assert rc == 2 and "cannot write into the output folder" in err.err
    assert "done" not in err.out + err.err
    rc = test_main(["--low", str(data / "low"), "--high", str(data / "high"),
                    "--weights", str(ckpt), "--out", str(blocked), "--no-progress"])
    assert rc == 2 and "cannot write into the output folder" in capsys.readouterr().err


def test_every_error_jsymnet_raises_is_one_type_that_every_tool_reports():
    import importlib
    import inspect
    import pkgutil
    from jsymnet.cli import EXPECTED_ERRORS
    errors = []
    for info in pkgutil.walk_packages(jsymnet.__path__, "jsymnet."):
        module = importlib.import_module(info.name)
        errors += [obj for _, obj in inspect.getmembers(module, inspect.isclass)
                   if issubclass(obj, Exception) and obj.__module__ == info.name]
    assert len(errors) >= 12
    stray = [e.__name__ for e in errors if not issubclass(e, jsymnet.JsymnetError)]
    assert not stray, f"errors outside JsymnetError: {stray}"
    assert jsymnet.JsymnetError in EXPECTED_ERRORS
    for tool in ("enhance", "evaluate", "train", "convert"):
        text = (ROOT / "jsymnet" / "cli" / f"{tool}.py").read_text()
        assert "except EXPECTED_ERRORS" in text, tool
