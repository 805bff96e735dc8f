"""jsymnet.enhance() and tools/enhance.py: every input kind, sizes kept, batches, safety.

Tiny generated files; one image size (37 x 53, odd) so Jittor compiles few kernels.
"""
import os

import cv2
import numpy as np
import pytest
from PIL import Image

import jsymnet
import jittor as jt
from jsymnet.data.image_io import read_image

from conftest import IMAGE_H as H, IMAGE_W as W, max_diff

from jsymnet import inference as E  # noqa: E402
from jsymnet.shifts import DEFAULT_SHIFTS, ShiftError  # noqa: E402


@pytest.fixture(scope="module")
def weights(tiny_weights):
    """A small Haar-codec network (the demo model's kind) with random couplings."""
    return tiny_weights


def _raw(weights, rgb_float, direction):
    """One pass of the network on one image, unclipped."""
    model = E.get_model(weights)
    with jt.no_grad():
        x = jt.array(np.ascontiguousarray(rgb_float.transpose(2, 0, 1))[None])
        y = model.enhance(x) if direction == "enhance" else model.degrade(x)
    return y.numpy()[0].transpose(1, 2, 0)


def network(weights, rgb_float, direction="enhance"):
    """The network alone on one image (no shifts), clipped."""
    return np.clip(_raw(weights, rgb_float, direction), 0, 1)


def reference(weights, rgb_float, direction="enhance", shifts=DEFAULT_SHIFTS):
    """What jsymnet.enhance returns, built by hand: the network on the image moved i pixels
    down and right (mirrored rows and columns, by index), moved back, averaged over i < k,
    k = the shifts, at most the codec's block size."""
    k = min(shifts, E.get_model(weights).codec.size_divisor)
    h, w = rgb_float.shape[:2]
    total = 0
    for i in range(k):
        rows = np.r_[np.arange(i)[::-1], np.arange(h)]
        cols = np.r_[np.arange(i)[::-1], np.arange(w)]
        total = total + _raw(weights, rgb_float[rows][:, cols], direction)[i:, i:]
    return np.clip(total / k, 0, 1)


# -- the Python API ---------------------------------------------------------------------------
def test_arrays_come_back_in_their_dtype_and_layout(weights, rgb8):
    ref = reference(weights, rgb8.astype(np.float32) / 255)
    out8 = jsymnet.enhance(rgb8, weights=weights)
    assert out8.dtype == np.uint8 and out8.shape == (H, W, 3)
    assert np.abs(out8.astype(int) - np.round(ref * 255)).max() <= 1
    assert np.abs(ref - rgb8 / 255.0).max() > 0.05            # it did something

    outf = jsymnet.enhance(rgb8.astype(np.float32) / 255, weights=weights)
    assert outf.dtype == np.float32 and max_diff(outf, ref) < 1e-5

    out16 = jsymnet.enhance(rgb8.astype(np.uint16) * 257, weights=weights)
    assert out16.dtype == np.uint16 and np.abs(out16 / 65535.0 - ref).max() < 1e-4

    gray = jsymnet.enhance(rgb8[:, :, 1], weights=weights)
    assert gray.dtype == np.uint8 and gray.shape == (H, W)

    alpha = np.random.RandomState(2).randint(0, 256, (H, W), dtype=np.uint8)
    rgba = jsymnet.enhance(np.dstack([rgb8, alpha]), weights=weights)
    assert rgba.shape == (H, W, 4) and np.array_equal(rgba[:, :, 3], alpha)
    assert np.array_equal(rgba[:, :, :3], out8)


def test_pil_images_keep_their_mode(weights, rgb8):
    for mode in ("RGB", "L", "RGBA"):
        im = Image.fromarray(rgb8).convert(mode)
        out = jsymnet.enhance(im, weights=weights)
        assert isinstance(out, Image.Image) and out.mode == mode and out.size == (W, H)
    rgba = Image.fromarray(rgb8).convert("RGBA")
    assert np.array_equal(np.array(jsymnet.enhance(rgba, weights=weights))[:, :, 3],
                          np.array(rgba)[:, :, 3])


def test_pil_high_precision_modes_are_not_cut_to_8_bits(weights, rgb8):
    """Modes I (16-bit files open so) and F keep their precision and their mode."""
    gray16 = (rgb8[:, :, 1].astype(np.int32) * 257 + 100)      # not a multiple of 257
    out_i = jsymnet.enhance(Image.fromarray(gray16, "I"), weights=weights)
    ref16 = jsymnet.enhance(gray16.astype(np.uint16), weights=weights)
    assert out_i.mode == "I" and np.array_equal(np.array(out_i), ref16.astype(np.int32))
    assert len(np.unique(np.array(out_i) % 257)) > 1        # not 8-bit values scaled up

    grayf = rgb8[:, :, 1].astype(np.float32) / 255.0 + 1e-3
    out_f = jsymnet.enhance(Image.fromarray(grayf, "F"), weights=weights)
    ref_f = jsymnet.enhance(grayf, weights=weights)
    assert out_f.mode == "F" and max_diff(np.array(out_f), ref_f) < 1e-6
    assert np.abs(np.array(out_f) * 255 - np.round(np.array(out_f) * 255)).max() > 0.01

    with pytest.raises(E.EnhanceError, match="16-bit"):
        jsymnet.enhance(Image.fromarray(gray16 * 10, "I"), weights=weights)


def write_inputs(folder, rgb8):
    """One tiny file of every kind the tool takes; returns {kind: path}."""
    folder.mkdir(parents=True, exist_ok=True)
    rs = np.random.RandomState(7)
    files = {"png8": folder / "a.png", "jpeg": folder / "b.jpg", "gray": folder / "g.png",
             "png16": folder / "c16.png", "tiff16": folder / "d16.tif",
             "rgba": folder / "e.png", "exif": folder / "rot.jpg"}
    cv2.imwrite(str(files["png8"]), rgb8[:, :, ::-1])
    cv2.imwrite(str(files["jpeg"]), rgb8[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    cv2.imwrite(str(files["gray"]), rgb8[:, :, 0])
    c16 = (rs.rand(H, W, 3) * 65535).astype(np.uint16)
    cv2.imwrite(str(files["png16"]), c16)
    cv2.imwrite(str(files["tiff16"]), c16)
    Image.fromarray(np.dstack([rgb8, rs.randint(0, 256, (H, W), dtype=np.uint8)]),
                    "RGBA").save(files["rgba"])
    exif = Image.Exif()
    exif[0x0112] = 3                                     # stored rotated by 180 degrees
    Image.fromarray(rgb8).save(files["exif"], exif=exif, quality=95)
    return files


def test_paths_return_arrays_like_the_file_and_write_nothing(weights, rgb8, tmp_path):
    files = write_inputs(tmp_path / "in", rgb8)
    before = sorted(os.listdir(tmp_path / "in"))
    for kind, path in files.items():
        out = jsymnet.enhance(str(path), weights=weights)
        assert out.dtype == np.float32 and out.shape[:2] == (H, W), kind
        assert out.min() >= 0 and out.max() <= 1
        if kind == "gray":
            assert out.ndim == 2
        elif kind == "rgba":
            assert out.shape == (H, W, 4)
            assert max_diff(out[:, :, 3], np.array(Image.open(path))[:, :, 3] / 255.0) < 1e-6
        else:
            assert out.shape == (H, W, 3)
        if kind in ("png16", "tiff16"):   # 16-bit precision kept on the way in
            assert max_diff(out, reference(weights, read_image(path))) < 1e-5
    # EXIF orientation applied: same as enhancing the upright picture
    upright = read_image(files["exif"])
    assert max_diff(upright, np.asarray(Image.open(files["exif"]))[::-1, ::-1] / 255.0) < 1e-6
    assert max_diff(jsymnet.enhance(files["exif"], weights=weights),
                    reference(weights, upright)) < 1e-5
    assert sorted(os.listdir(tmp_path / "in")) == before


def test_shifts_average_the_network_over_shifts_of_its_block_grid(weights, rgb8):
    x = rgb8.astype(np.float32) / 255
    one = jsymnet.enhance(x, weights=weights, shifts=1)
    assert max_diff(one, network(weights, x)) < 1e-5          # 1: the network alone
    two = jsymnet.enhance(x, weights=weights)                 # the default, 2
    assert max_diff(two, reference(weights, x, shifts=2)) < 1e-5
    assert max_diff(two, one) > 1e-3                          # the shifted pass differs
    # one pass per shift of the grid at most: this codec codes 2 x 2 blocks
    assert E.get_model(weights).codec.size_divisor == 2
    assert np.array_equal(jsymnet.enhance(x, weights=weights, shifts=5), two)
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ShiftError, match="whole number"):
            jsymnet.enhance(x, weights=weights, shifts=bad)


def test_degrade_direction_and_tiling_through_the_api(weights, rgb8):
    x = rgb8.astype(np.float32) / 255
    low = jsymnet.enhance(x, weights=weights, direction="degrade")
    assert max_diff(low, reference(weights, x, "degrade")) < 1e-5
    tiled = jsymnet.enhance(x, weights=weights, tile=16)
    assert max_diff(tiled, reference(weights, x)) < 1e-3
    auto = jsymnet.enhance(x, weights=weights, max_megapixels=0.001)   # tiled automatically
    assert max_diff(auto, tiled) < 1e-6
    with pytest.raises(E.EnhanceError, match="direction"):
        jsymnet.enhance(x, weights=weights, direction="sideways")


def test_models_are_cached_and_missing_weights_are_explained(weights, tmp_path, monkeypatch):
    assert E.get_model(weights) is E.get_model(str(weights))
    with pytest.raises(E.EnhanceError, match="not found"):
        jsymnet.enhance(np.zeros((4, 4, 3), np.uint8), weights=tmp_path / "nope.pkl")
    monkeypatch.setattr(E, "default_weights", lambda: None)  # as if none shipped
    with pytest.raises(E.EnhanceError, match="configs/default/"):
        jsymnet.enhance(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(E.EnhanceError, match=r"\[0, 1\]"):
        jsymnet.enhance(np.full((4, 4, 3), 2.0, np.float32), weights=weights)


# -- the command-line tool -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cli():
    from jsymnet.cli.enhance import main
    return main


def test_cli_every_kind_sizes_modes_and_structure(cli, weights, rgb8, tmp_path, capsys):
    files = write_inputs(tmp_path / "in" / "sub", rgb8)
    out = tmp_path / "out"
    rc = cli([str(tmp_path / "in"), "-o", str(out), "--weights", str(weights), "--recursive",
              "--no-progress"])
    assert rc == 0
    assert "7 done, 0 skipped, 0 failed" in capsys.readouterr().out
    for kind, path in files.items():
        dst = out / "sub" / f"{path.stem}_enh{path.suffix}"   # structure and format kept
        img = cv2.imread(str(dst), cv2.IMREAD_UNCHANGED)
        assert img.shape[:2] == (H, W), kind
        expect = {"gray": 2, "rgba": 3}.get(kind, 3)
        assert img.ndim == expect and (kind != "rgba" or img.shape[2] == 4), kind
        assert img.dtype == (np.uint16 if kind in ("png16", "tiff16") else np.uint8), kind
    rgba_in = np.array(Image.open(files["rgba"]))
    rgba_out = np.array(Image.open(out / "sub" / "e_enh.png"))
    assert np.array_equal(rgba_out[:, :, 3], rgba_in[:, :, 3])    # alpha passed through
    # what the tool wrote is what the API returns
    api = jsymnet.enhance(str(files["png8"]), weights=weights)
    assert np.abs(read_image(out / "sub" / "a_enh.png") - api).max() <= 0.5 / 255 + 1e-6


def test_cli_corrupt_file_is_reported_and_the_rest_is_done(cli, weights, rgb8, tmp_path,
                                                          capsys):
    src = tmp_path / "in"
    write_inputs(src, rgb8)
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    rc = cli([str(src), "-o", str(tmp_path / "out"), "--weights", str(weights),
              "--no-progress", "--ext", "jpg", "--side-by-side"])
    captured = capsys.readouterr()
    assert rc == 1                                           # partial failure
    assert "7 done, 0 skipped, 1 failed" in captured.out
    assert "broken.png" in captured.err
    outs = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert len(outs) == 7 and "broken_enh.jpg" not in outs
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]  # no temp
    sbs = cv2.imread(str(tmp_path / "out" / "a_enh.jpg"))
    assert sbs.shape == (H, 2 * W, 3)


def test_cli_never_overwrites_inputs(cli, weights, rgb8, tmp_path, capsys):
    src = tmp_path / "in"
    files = write_inputs(src, rgb8)
    before = {p: p.read_bytes() for p in files.values()}
    rc = cli([str(files["png8"]), str(files["gray"]), "-o", str(src), "--suffix", "",
              "--weights", str(weights), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 1 and "would overwrite an input" in err
    assert {p: p.read_bytes() for p in files.values()} == before


def test_cli_globs_degrade_and_usage_errors(cli, weights, rgb8, tmp_path, capsys):
    src = tmp_path / "in"
    write_inputs(src / "x", rgb8)
    rc = cli([str(src / "*" / "*.png"), "-o", str(tmp_path / "low"), "--weights", str(weights),
              "--direction", "degrade", "--suffix", "_low", "--no-progress"])
    assert rc == 0
    assert sorted(p.name for p in (tmp_path / "low" / "x").iterdir()) == \
        ["a_low.png", "c16_low.png", "e_low.png", "g_low.png"]
    assert cli([str(tmp_path / "missing.png"), "-o", str(tmp_path / "o"), "--weights",
                str(weights), "--no-progress"]) == 2
    assert cli([str(src / "x" / "a.png"), "-o", str(tmp_path / "o"), "--weights",
                str(tmp_path / "none.pkl"), "--no-progress"]) == 2
    assert "weights file not found" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        cli(["-o", str(tmp_path / "o")])
    assert exc.value.code == 2


# -- strength ---------------------------------------------------------------------------------
def _oracle_linear(v):      # IEC 61966-2-1, written out again as the test's own reference
    v = np.asarray(v, np.float64)
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def _oracle_srgb(v):
    v = np.clip(np.asarray(v, np.float64), 0, 1)
    return np.where(v <= 0.0031308, 12.92 * v, 1.055 * v ** (1 / 2.4) - 0.055)


def test_strength_is_a_linear_light_blend_from_the_input_to_the_output(weights, rgb8):
    from jsymnet.strength import StrengthError, apply_strength
    x = rgb8.astype(np.float32) / 255
    full = jsymnet.enhance(x, weights=weights)
    assert np.array_equal(jsymnet.enhance(rgb8, weights=weights, strength=0), rgb8)
    assert np.array_equal(jsymnet.enhance(x, weights=weights, strength=1.0), full)
    for s in (0.35, 1.6):
        got = jsymnet.enhance(x, weights=weights, strength=s)
        lx, ly = _oracle_linear(x), _oracle_linear(full)
        want = np.clip(_oracle_srgb(lx + s * (ly - lx)), 0, 1)
        assert max_diff(got, want) < 2e-6, s
    # where the model only brightens, every strength is an exposure of it: same colours
    k = 3.0
    bright = _oracle_srgb(np.minimum(_oracle_linear(x) * k, 1.0)).astype(np.float32)
    half = apply_strength(x, bright, 0.5)
    gain = 1 + 0.5 * (k - 1)
    dark = _oracle_linear(x) * k <= 1.0
    ratio = _oracle_linear(half)[dark & (x > 0.05)] / _oracle_linear(x)[dark & (x > 0.05)]
    assert np.allclose(ratio, gain, rtol=1e-4)
    # tiled and untiled agree at any strength; the degrade direction takes it too
    assert max_diff(jsymnet.enhance(x, weights=weights, tile=16, strength=0.5),
                    jsymnet.enhance(x, weights=weights, strength=0.5)) < 1e-3
    low = jsymnet.enhance(x, weights=weights, direction="degrade", strength=0.5)
    lx, ll = _oracle_linear(x), _oracle_linear(reference(weights, x, "degrade"))
    assert max_diff(low, _oracle_srgb(lx + 0.5 * (ll - lx))) < 1e-5
    for bad in (-0.1, 2.01, float("nan"), "a lot"):
        with pytest.raises(StrengthError, match="strength"):
            jsymnet.enhance(x, weights=weights, strength=bad)


def test_cli_strength_writes_what_the_api_returns(cli, weights, rgb8, tmp_path, capsys):
    src = tmp_path / "a.png"
    cv2.imwrite(str(src), rgb8[:, :, ::-1])
    rc = cli([str(src), "-o", str(tmp_path / "out"), "--weights", str(weights),
              "--strength", "0.6", "--no-progress"])
    assert rc == 0
    written = np.array(Image.open(tmp_path / "out" / "a_enh.png"))
    assert np.array_equal(written, jsymnet.enhance(rgb8, weights=weights, strength=0.6))
    rc = cli([str(src), "-o", str(tmp_path / "out2"), "--weights", str(weights),
              "--strength", "3", "--no-progress"])
    assert rc == 2 and "strength must lie between 0" in capsys.readouterr().err
    assert not (tmp_path / "out2").exists() or not os.listdir(tmp_path / "out2")
