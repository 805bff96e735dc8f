"""ICC profiles built byte by byte for the colour tests (ICC.1:2001-04, version 2).

:func:`matrix_profile` makes an RGB display profile from its D50 colorants and one
tone curve (Adobe RGB (1998), Display P3); :func:`gray_profile` a gray one with a
gamma curve; :func:`cmyk_profile` a crude CMYK
printer (2 x 2 x 2 x 2 lut8 tables from ink = 1 - RGB, no black generation), enough
for LittleCMS to convert CMYK pixels both ways. LittleCMS, through Pillow's ImageCms,
reads them as it reads any profile; nothing here is used outside the tests.
"""
import struct
import warnings

import numpy as np

D50 = (0.9642, 1.0, 0.8249)
ADOBE_RGB = ((0.60974, 0.31111, 0.01947), (0.20528, 0.62567, 0.06087),
             (0.14919, 0.06322, 0.74457))
DISPLAY_P3 = ((0.51512, 0.24120, -0.00105), (0.29198, 0.69225, 0.04189),
              (0.15710, 0.06657, 0.78407))


def _s15(v):
    return struct.pack(">i", round(v * 65536))


def _xyz(v):
    return b"XYZ \0\0\0\0" + b"".join(_s15(c) for c in v)


def matrix_profile(name, colorants, gamma=None):
    """An RGB display profile (PCS XYZ): the D50 XYZ of R, G and B, and one tone curve
    for all three (``gamma``, or the sRGB curve as a parametric curve)."""
    if gamma:
        trc = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"
    else:
        trc = b"para\0\0\0\0" + struct.pack(">HH", 3, 0) + b"".join(
            _s15(v) for v in (2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045))
    tags = [(b"desc", _desc(name)), (b"wtpt", _xyz(D50)), (b"rXYZ", _xyz(colorants[0])),
            (b"gXYZ", _xyz(colorants[1])), (b"bXYZ", _xyz(colorants[2])), (b"rTRC", trc),
            (b"gTRC", trc), (b"bTRC", trc), (b"cprt", b"text\0\0\0\0none\0")]
    body = _table(tags)
    return _header(128 + len(body), b"mntr", b"RGB ", b"XYZ ") + body


def gray_profile(name="Gray gamma 1.8, built for jsymnet's tests", gamma=1.8):
    """A gray display profile (PCS XYZ): the D50 white and one tone curve."""
    trc = b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"
    body = _table([(b"desc", _desc(name)), (b"wtpt", _xyz(D50)), (b"kTRC", trc)])
    return _header(128 + len(body), b"mntr", b"GRAY", b"XYZ ") + body


def _table(tags):
    """The tag table and tag data of a profile whose header is 128 bytes."""
    table, data, offset = b"", b"", 128 + 4 + 12 * len(tags)
    for sig, body in tags:
        body += b"\0" * (-len(body) % 4)
        table += sig + struct.pack(">II", offset + len(data), len(body))
        data += body
    return struct.pack(">I", len(tags)) + table + data


def _header(size, device, space, pcs):
    return (struct.pack(">I", size) + b"lcms" + struct.pack(">I", 0x02100000) + device
            + space + pcs + struct.pack(">6H", 2024, 1, 1, 0, 0, 0) + b"acsp" + b"\0" * 28
            + b"".join(_s15(c) for c in D50) + b"\0" * 48)


def _desc(name):
    text = name.encode() + b"\0"
    return b"desc\0\0\0\0" + struct.pack(">I", len(text)) + text + b"\0" * 79


def _lut8(inputs, outputs, clut):
    """lut8Type with identity curves and matrix, a 2-point grid and ``clut`` (bytes)."""
    ident = bytes(range(256))
    return (b"mft1\0\0\0\0" + bytes([inputs, outputs, 2, 0])
            + b"".join(_s15(v) for v in (1, 0, 0, 0, 1, 0, 0, 0, 1))
            + ident * inputs + bytes(clut) + ident * outputs)


def _lab8(lab):
    lightness, a, b = lab
    return [round(np.clip(lightness / 100 * 255, 0, 255)), round(np.clip(a + 128, 0, 255)),
            round(np.clip(b + 128, 0, 255))]


def cmyk_profile(name="crude CMYK printer, built for jsymnet's tests"):
    """A CMYK output profile (PCS Lab): ink = 1 - RGB, black from K alone."""
    from skimage.color import lab2rgb, rgb2lab
    corners = (0.0, 1.0)
    a2b = []
    for c in corners:
        for m in corners:
            for y in corners:
                for k in corners:
                    rgb = np.array([[[(1 - c) * (1 - k), (1 - m) * (1 - k), (1 - y) * (1 - k)]]])
                    a2b += _lab8(rgb2lab(rgb)[0, 0])
    b2a = []
    for lightness in (0.0, 100.0):
        for a in (-128.0, 127.0):
            for b in (-128.0, 127.0):
                with warnings.catch_warnings():     # corners outside every gamut: clipped
                    warnings.simplefilter("ignore")
                    rgb = np.clip(lab2rgb(np.array([[[lightness, a, b]]]))[0, 0], 0, 1)
                b2a += [round(255 * (1 - v)) for v in rgb] + [0]
    tags = [(b"desc", _desc(name)), (b"wtpt", _xyz(D50)), (b"A2B0", _lut8(4, 3, a2b)),
            (b"B2A0", _lut8(3, 4, b2a))]
    body = _table(tags)
    return _header(128 + len(body), b"prtr", b"CMYK", b"Lab ") + body
