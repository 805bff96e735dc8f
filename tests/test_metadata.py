"""Metadata, colour spaces and formats kept: EXIF, XMP, DPI and ICC survive enhancement.

The network here is a fresh Haar DSN, which is exactly the identity (every coupling
starts at zero): a photo that needs nothing, so each output can be held to its input.
One image size (64 x 48) so that Jittor compiles few kernels. The ICC profiles are
built by tests/icc_profiles.py (Adobe RGB (1998), Display P3, a crude CMYK printer)
and read by LittleCMS through Pillow's ImageCms.
"""
import io

import numpy as np
import pytest
from PIL import Image, ImageCms, JpegImagePlugin

import jsymnet
from conftest import max_diff, tiny_haar_config
from icc_profiles import ADOBE_RGB, DISPLAY_P3, cmyk_profile, gray_profile, matrix_profile
from jsymnet import inference
from jsymnet.data import colour
from jsymnet.data.image_io import read_image
from jsymnet.data.metadata import PhotoMeta, read_meta, write_photo

W, H = 64, 48
MAKE, MODEL, SOFTWARE, ORIENTATION, DATETIME_ORIGINAL = 0x010F, 0x0110, 0x0131, 0x0112, 0x9003
EXIF_IFD, GPS_IFD = 0x8769, 0x8825
ADOBE_ICC = matrix_profile("Adobe RGB (1998), built for jsymnet's tests", ADOBE_RGB, 563 / 256)
P3_ICC = matrix_profile("Display P3, built for jsymnet's tests", DISPLAY_P3)
SRGB_ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
       b'22-rdf-syntax-ns#"><rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" '
       b'xmlns:dc="http://purl.org/dc/elements/1.1/" tiff:Orientation="3" '
       b'dc:format="image/jpeg"/></rdf:RDF></x:xmpmeta>')


def camera_exif(orientation=3):
    exif = Image.Exif()
    exif[MAKE], exif[MODEL], exif[ORIENTATION] = "Canon", "EOS R5", orientation
    exif[EXIF_IFD] = {DATETIME_ORIGINAL: "2024:05:01 21:30:00", 0x829A: 0.25}
    exif[GPS_IFD] = {1: "N", 2: (52.0, 30.0, 12.5), 3: "E", 4: (13.0, 24.0, 0.0)}
    parsed = Image.Exif()             # as read from a file (Pillow's TIFF writer needs that)
    parsed.load(exif.tobytes())
    return parsed


@pytest.fixture(scope="module")
def identity(tmp_path_factory):
    """A fresh Haar DSN (exactly the identity) saved as a checkpoint."""
    path = tmp_path_factory.mktemp("w") / "identity.pkl"
    jsymnet.save_checkpoint(path, jsymnet.build_model(tiny_haar_config()))
    return path


@pytest.fixture(scope="module")
def cli():
    from jsymnet.cli.enhance import main
    return main


@pytest.fixture(scope="module")
def srgb8():
    """Smooth in-gamut colours (every one inside sRGB, and so inside P3 and Adobe RGB)."""
    y, x = np.mgrid[0:H, 0:W] / np.array([H, W], np.float64)[:, None, None]
    rgb = np.stack([0.2 + 0.6 * x, 0.25 + 0.5 * y, 0.7 - 0.4 * x * y], -1)
    return np.round(rgb * 255).astype(np.uint8)


def in_profile(rgb8, icc):
    """sRGB pixels converted into ``icc`` by LittleCMS (what a camera or editor stores)."""
    return np.asarray(ImageCms.profileToProfile(
        Image.fromarray(rgb8), ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")),
        ImageCms.ImageCmsProfile(io.BytesIO(icc)), renderingIntent=1, outputMode="RGB"))


def exif_of(path):
    with Image.open(path) as im:
        exif = im.getexif()
        return dict(exif), dict(exif.get_ifd(EXIF_IFD)), dict(exif.get_ifd(GPS_IFD))


def run(cli, identity, src, out, *extra):
    return cli([str(src), "-o", str(out), "--weights", str(identity), "--no-progress", *extra])


# -- EXIF, XMP, DPI through the command ---------------------------------------------------------
def test_jpeg_stays_jpeg_with_exif_xmp_dpi_and_icc(cli, identity, srgb8, tmp_path):
    src = tmp_path / "in" / "photo.jpg"
    src.parent.mkdir()
    stored = srgb8[::-1, ::-1]                   # stored upside down: Orientation 3
    Image.fromarray(stored).save(src, quality=98, subsampling=0, exif=camera_exif(3),
                                 xmp=XMP, dpi=(300, 300), icc_profile=SRGB_ICC)
    assert run(cli, identity, src, tmp_path / "out") == 0
    dst = tmp_path / "out" / "photo_enh.jpg"     # no --ext: the input's format
    ifd0, sub, gps = exif_of(dst)
    assert ifd0[MAKE] == "Canon" and ifd0[MODEL] == "EOS R5"
    assert ifd0[ORIENTATION] == 1                 # the pixels are written upright
    assert ifd0[SOFTWARE] == f"jsymnet {jsymnet.__version__}, model identity.pkl"
    assert sub[DATETIME_ORIGINAL] == "2024:05:01 21:30:00" and float(sub[0x829A]) == 0.25
    assert gps[1] == "N" and tuple(float(v) for v in gps[2]) == (52.0, 30.0, 12.5)
    with Image.open(dst) as im:
        assert im.format == "JPEG" and im.info["dpi"] == (300, 300)
        assert im.info["icc_profile"] == SRGB_ICC
        assert b'tiff:Orientation="1"' in im.info["xmp"] and b"dc:format" in im.info["xmp"]
        assert JpegImagePlugin.get_sampling(im) == 0        # 4:4:4 by default
        pixels = np.asarray(im)
    assert pixels.shape == (H, W, 3)
    diff = pixels.astype(float) - read_image(src) * 255   # upright, and JPEG q95 close
    assert 10 * np.log10(255 ** 2 / np.mean(diff ** 2)) > 40

    assert run(cli, identity, src, tmp_path / "small", "--quality", "60", "--chroma",
               "420") == 0
    small = tmp_path / "small" / "photo_enh.jpg"
    with Image.open(small) as im:
        assert JpegImagePlugin.get_sampling(im) == 2
    assert small.stat().st_size < dst.stat().st_size < 1.2 * src.stat().st_size  # not a PNG


def test_png_and_tiff_carry_exif_and_16_bits_stay(cli, identity, srgb8, tmp_path):
    src = tmp_path / "in"
    rgb16 = srgb8.astype(np.uint16) * 257 + 3
    meta = PhotoMeta(exif={MAKE: "Nikon", ORIENTATION: 1, EXIF_IFD: {DATETIME_ORIGINAL:
                                                                     "2023:01:02 03:04:05"}},
                     xmp=XMP, dpi=(240.0, 240.0), icc=SRGB_ICC)
    write_photo(src / "a16.png", rgb16, 16, meta)
    write_photo(src / "b16.tif", rgb16, 16, meta)
    Image.fromarray(srgb8).save(src / "c8.png", exif=camera_exif(1), dpi=(72, 72))
    assert cli([str(src), "-o", str(tmp_path / "out"), "--weights", str(identity),
                "--no-progress"]) == 0
    for name, fmt, bits in (("a16_enh.png", "PNG", 16), ("b16_enh.tif", "TIFF", 16),
                            ("c8_enh.png", "PNG", 8)):
        dst = tmp_path / "out" / name
        got = read_meta(dst)
        assert got.format == fmt, name
        assert got.exif[MAKE] in ("Nikon", "Canon") and got.exif[SOFTWARE].startswith("jsymnet")
        assert got.exif[EXIF_IFD][DATETIME_ORIGINAL].startswith("20"), name
        assert got.dpi is not None and abs(got.dpi[0] - (72 if bits == 8 else 240)) < 0.01
        import cv2
        pixels = cv2.imread(str(dst), cv2.IMREAD_UNCHANGED)[:, :, ::-1]
        assert pixels.dtype == (np.uint16 if bits == 16 else np.uint8), name
        expect = rgb16 if bits == 16 else srgb8
        assert np.abs(pixels.astype(int) - expect).max() <= (1 if bits == 16 else 0), name
        if bits == 16:
            assert got.icc == SRGB_ICC and b'tiff:Orientation="1"' in got.xmp
            assert got.exif[EXIF_IFD][DATETIME_ORIGINAL] == "2023:01:02 03:04:05"
    assert read_meta(tmp_path / "out" / "c8_enh.png").exif[GPS_IFD][1] == "N"


def test_strip_metadata_leaves_none_but_the_colour_profile(cli, identity, srgb8, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for name in ("a.jpg", "b.png", "c.tif"):
        Image.fromarray(srgb8).save(src / name, exif=camera_exif(1), dpi=(300, 300),
                                    icc_profile=SRGB_ICC, **({"xmp": XMP} if name == "a.jpg"
                                                              else {}))
    assert read_meta(src / "c.tif").exif[MAKE] == "Canon"          # there to be stripped
    assert cli([str(src), "-o", str(tmp_path / "out"), "--weights", str(identity),
                "--no-progress", "--strip-metadata"]) == 0
    for name in ("a_enh.jpg", "b_enh.png", "c_enh.tif"):
        dst = tmp_path / "out" / name
        got = read_meta(dst)
        assert got.exif is None and got.xmp is None, name
        assert got.icc == SRGB_ICC, name                            # colours still defined
        data = dst.read_bytes()
        assert b"Canon" not in data and b"EOS R5" not in data and b"jsymnet" not in data
        with Image.open(dst) as im:
            ifd0 = im.getexif()             # a TIFF's is its pixel layout: only that is left
            assert not {MAKE, MODEL, SOFTWARE, ORIENTATION, EXIF_IFD, GPS_IFD} & set(ifd0)
            assert not dict(ifd0.get_ifd(GPS_IFD)) and not dict(ifd0.get_ifd(EXIF_IFD))


def test_cmyk_palette_and_gray_alpha_inputs_keep_their_exif(cli, identity, srgb8, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(srgb8).convert("CMYK").save(src / "cmyk.jpg", exif=camera_exif(1),
                                                quality=95)
    Image.fromarray(srgb8).quantize(64).save(src / "palette.png", exif=camera_exif(1))
    Image.fromarray(srgb8).convert("LA").save(src / "gray_alpha.png", exif=camera_exif(1))
    assert cli([str(src), "-o", str(tmp_path / "out"), "--weights", str(identity),
                "--no-progress"]) == 0
    for name in ("cmyk_enh.jpg", "palette_enh.png", "gray_alpha_enh.png"):
        ifd0, sub, gps = exif_of(tmp_path / "out" / name)
        assert ifd0[MAKE] == "Canon" and ifd0[SOFTWARE].startswith("jsymnet"), name
        assert sub[DATETIME_ORIGINAL] == "2024:05:01 21:30:00" and gps[1] == "N", name


def test_evaluation_images_keep_the_inputs_metadata(identity, srgb8, tmp_path):
    from jsymnet.cli.evaluate import main
    for side in ("low", "high"):
        (tmp_path / side).mkdir()
        Image.fromarray(srgb8).save(tmp_path / side / "a.png", exif=camera_exif(1),
                                    icc_profile=SRGB_ICC, dpi=(150, 150))
    args = ["--dataset", "folder", "--low", str(tmp_path / "low"), "--high",
            str(tmp_path / "high"), "--weights", str(identity), "--sheet", "0", "--no-progress"]
    assert main(args + ["--out", str(tmp_path / "res")]) == 0
    got = read_meta(tmp_path / "res" / "images" / "a.png")
    assert got.exif[MAKE] == "Canon" and got.exif[GPS_IFD][1] == "N"
    assert got.exif[SOFTWARE] == f"jsymnet {jsymnet.__version__}, model identity.pkl"
    assert got.icc == SRGB_ICC and abs(got.dpi[0] - 150) < 0.05      # PNG: pixels/metre
    assert main(args + ["--out", str(tmp_path / "bare"), "--strip-metadata"]) == 0
    got = read_meta(tmp_path / "bare" / "images" / "a.png")
    assert got.exif is None and got.dpi is None and got.icc == SRGB_ICC


# -- colour spaces ------------------------------------------------------------------------------
def test_adobe_rgb_is_enhanced_in_srgb_and_written_back_tagged(cli, identity, srgb8, tmp_path,
                                                               monkeypatch):
    adobe = in_profile(srgb8, ADOBE_ICC)
    assert np.abs(adobe.astype(int) - srgb8).max() > 20          # really another space
    src = tmp_path / "in" / "adobe.png"
    src.parent.mkdir()
    Image.fromarray(adobe).save(src, icc_profile=ADOBE_ICC, exif=camera_exif(1))
    seen = []
    real = inference.run_rgb
    monkeypatch.setattr(inference, "run_rgb", lambda model, rgb, *a, **k:
                        seen.append(rgb) or real(model, rgb, *a, **k))
    assert run(cli, identity, src, tmp_path / "out") == 0
    assert max_diff(seen[0] * 255, srgb8) <= 3.0      # the network saw sRGB (8-bit Adobe
    assert max_diff(seen[0] * 255, adobe) > 20        # RGB steps are coarser than sRGB's)
    dst = tmp_path / "out" / "adobe_enh.png"
    with Image.open(dst) as im:
        assert im.info["icc_profile"] == ADOBE_ICC                 # tagged as the input
        back = np.asarray(im)
    assert np.abs(back.astype(int) - adobe).max() <= 2             # and back in Adobe RGB

    arr = jsymnet.enhance(str(src), weights=identity)              # the API: the same pixels
    assert np.abs(np.round(arr * 255) - back).max() <= 1


def test_sixteen_bit_adobe_rgb_keeps_its_precision(cli, identity, srgb8, tmp_path, monkeypatch):
    profile = colour.Profile(ADOBE_ICC)
    native = profile.from_srgb(srgb8 / 255.0, bits=16)
    src = tmp_path / "in" / "adobe16.tif"
    write_photo(src, native, 16, PhotoMeta(icc=ADOBE_ICC))
    assert run(cli, identity, src, tmp_path / "out") == 0
    import cv2
    out = cv2.imread(str(tmp_path / "out" / "adobe16_enh.tif"), cv2.IMREAD_UNCHANGED)
    assert out.dtype == np.uint16 and read_meta(tmp_path / "out" / "adobe16_enh.tif").icc \
        == ADOBE_ICC
    err = np.abs(out[:, :, ::-1] / 65535.0 - np.round(native * 65535) / 65535).max()
    assert err < 3e-4, err                            # well below one 8-bit step (3.9e-3)

    monkeypatch.setattr(colour, "_lcms", lambda: None)          # as where LittleCMS is absent
    res = inference.run_photo(src, inference.get_model(identity))
    assert any("8-bit precision" in note for note in res.notes)
    coarse = np.abs(res.output - native).max()
    assert 10 * err < coarse < 2.5 / 255, coarse      # still right, but only to 8 bits


def test_cmyk_with_a_profile_stays_cmyk_in_its_profile(cli, identity, srgb8, tmp_path):
    icc = cmyk_profile()
    printer, srgb = ImageCms.ImageCmsProfile(io.BytesIO(icc)), ImageCms.createProfile("sRGB")
    src = tmp_path / "in" / "print.jpg"
    src.parent.mkdir()
    ImageCms.profileToProfile(Image.fromarray(srgb8), srgb, printer, renderingIntent=1,
                              outputMode="CMYK").save(src, icc_profile=icc, quality=98,
                                                      exif=camera_exif(1))
    with Image.open(src) as im:          # what the identity network must give back
        seen = ImageCms.profileToProfile(im, printer, srgb, renderingIntent=1,
                                         outputMode="RGB")
        expect = np.asarray(ImageCms.profileToProfile(seen, srgb, printer, renderingIntent=1,
                                                      outputMode="CMYK"), np.float64)
    assert run(cli, identity, src, tmp_path / "out") == 0
    with Image.open(tmp_path / "out" / "print_enh.jpg") as im:
        assert im.mode == "CMYK" and im.info["icc_profile"] == icc
        assert im.getexif()[MAKE] == "Canon"
        assert np.abs(np.asarray(im) - expect).mean() < 1.5       # JPEG q95 of the same ink

    assert run(cli, identity, src, tmp_path / "png", "--ext", "png") == 0
    with Image.open(tmp_path / "png" / "print_enh.png") as im:    # PNG has no CMYK: sRGB
        assert im.mode == "RGB" and "icc_profile" not in im.info
        assert np.abs(np.asarray(im).astype(int) - np.asarray(seen)).max() <= 1


def test_srgb_and_untagged_photos_are_not_converted():
    assert colour.Profile(SRGB_ICC).is_srgb
    assert not colour.Profile(P3_ICC).is_srgb and not colour.Profile(ADOBE_ICC).is_srgb
    profile, keep, notes = colour.profile_for(SRGB_ICC, 3)
    assert profile is None and keep == SRGB_ICC and not notes
    assert colour.profile_for(None, 3) == (None, None, [])
    profile, keep, notes = colour.profile_for(b"not a profile", 3)
    assert profile is None and keep is None and "not readable" in notes[0]
    profile, keep, notes = colour.profile_for(P3_ICC, 1)          # an RGB profile on gray
    assert profile is None and keep is None and "ignored" in notes[0]


def test_gray_with_a_gray_profile_stays_gray_and_tagged(identity, srgb8):
    icc = gray_profile()
    profile = colour.Profile(icc)
    assert profile.space == "GRAY" and not profile.is_srgb
    gray = srgb8[:, :, 1]
    seen = profile.to_srgb(gray / 255.0, bits=16)
    assert seen.shape == (H, W, 3) and max_diff(seen[:, :, 0], seen[:, :, 2]) < 1e-3
    assert max_diff(seen[:, :, 0], gray / 255.0) > 0.02          # gamma 1.8 is not sRGB's
    assert max_diff(profile.from_srgb(seen, bits=16), gray / 255.0) < 1e-3
    im = Image.fromarray(gray, "L")
    im.info["icc_profile"] = icc
    out = jsymnet.enhance(im, weights=identity)
    assert out.mode == "L" and out.info["icc_profile"] == icc
    assert np.abs(np.asarray(out).astype(int) - gray).max() <= 2


# -- jsymnet.enhance on a PIL image ---------------------------------------------------------------
def test_pil_image_keeps_exif_icc_and_display_p3_colours(identity, srgb8, tmp_path):
    p3 = in_profile(srgb8, P3_ICC)
    buf = io.BytesIO()
    Image.fromarray(p3).save(buf, "PNG", icc_profile=P3_ICC, exif=camera_exif(6),
                             dpi=(300, 300))
    im = Image.open(io.BytesIO(buf.getvalue()))
    out = jsymnet.enhance(im, weights=identity)
    assert out.mode == "RGB" and out.size == (W, H)
    assert out.info["icc_profile"] == P3_ICC
    assert np.abs(np.asarray(out).astype(int) - p3).max() <= 2
    exif = Image.Exif()
    exif.load(out.info["exif"])
    assert exif[MAKE] == "Canon" and exif[ORIENTATION] == 6       # pixels not turned here
    assert exif[SOFTWARE] == f"jsymnet {jsymnet.__version__}, model identity.pkl"
    assert exif.get_ifd(GPS_IFD)[1] == "N"
    out.save(tmp_path / "saved.jpg", **out.info)                   # as the docs say
    saved = read_meta(tmp_path / "saved.jpg")
    assert saved.icc == P3_ICC and saved.exif[MAKE] == "Canon" and saved.dpi == (300, 300)

    bare = jsymnet.enhance(im, weights=identity, strip_metadata=True)
    assert set(bare.info) == {"icc_profile"}
