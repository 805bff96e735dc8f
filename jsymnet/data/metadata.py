"""What a photo carries besides its pixels: EXIF, XMP, DPI and its ICC profile.

:func:`read_meta` reads them from a file's header (Pillow; no pixels are decoded),
:func:`meta_of_pil` from an open PIL image. :meth:`PhotoMeta.for_output` is what an
enhanced copy carries: the EXIF with Orientation 1 when jsymnet turned the pixels
upright, the output's pixel dimensions and a Software tag naming jsymnet and its model;
the XMP with its ``tiff:Orientation`` likewise 1; the DPI; the ICC profile.
``strip=True`` keeps only the ICC profile, which says what the colour values mean (it
is not about the photo): no EXIF (GPS included), no XMP, no DPI.

:func:`write_photo` writes pixels and metadata atomically as JPEG, PNG, TIFF or WebP.
JPEG and WebP go through Pillow (quality, chroma subsampling). PNG and TIFF pixels are
encoded by OpenCV (Pillow has no 16-bit RGB), then the metadata is added with Pillow's
own writers: PNG chunks (eXIf, iCCP, pHYs, iTXt XMP) after the header, or a TIFF
directory holding the EXIF (its Exif and GPS sub-directories included), ICC, XMP and
resolution tags in front of the pixel strips.
"""
import copy
import io
import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from ..errors import JsymnetError
from ..utils.fileio import atomic_path
from .image_io import to_uint8, to_uint16

ORIENTATION, SOFTWARE = 0x0112, 0x0131
EXIF_IFD, GPS_IFD, INTEROP_IFD = 0x8769, 0x8825, 0xA005
PIXEL_X, PIXEL_Y = 0xA002, 0xA003
XMP_TAG, ICC_TAG = 700, 34675
STRIP_OFFSETS, STRIP_BYTE_COUNTS = 273, 279
X_RESOLUTION, Y_RESOLUTION, RESOLUTION_UNIT = 282, 283, 296

# IFD0 tags that describe a TIFF's pixel layout, not the photo. A TIFF's EXIF as Pillow
# reads it is its whole first directory; copied into another file these tags would
# describe the wrong pixels (or point at bytes that are not there).
LAYOUT_TAGS = frozenset({
    254, 255, 256, 257, 258, 259, 262, 263, 264, 265, 266, 273, 277, 278, 279, 280, 281,
    284, 286, 287, 288, 289, 290, 291, 292, 293, 297, 317, 320, 322, 323, 324, 325, 330,
    332, 338, 339, 340, 341, 347, 513, 514, 515, 517, 518, 519, 520, 521, 529, 530, 531,
    532, XMP_TAG, ICC_TAG, 34377, 37724, 50838, 50839})

FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".tif": "TIFF", ".tiff": "TIFF",
           ".webp": "WEBP"}
SIXTEEN_BIT_FORMATS = ("PNG", "TIFF")
CMYK_FORMATS = ("JPEG", "TIFF")
DEFAULT_QUALITY = 95
CHROMA = {"444": "4:4:4", "422": "4:2:2", "420": "4:2:0"}
JPEG_SEGMENT = 65533            # the largest JPEG marker segment payload (bytes)
XMP_JPEG_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class MetadataError(JsymnetError, ValueError):
    """A photo cannot be written the way asked (format, depth, layout)."""


@dataclass
class PhotoMeta:
    """The metadata of one photo.

    exif: ``{tag: value}`` of the first EXIF directory, its Exif, GPS and Interop
    sub-directories as nested dicts (tags ``0x8769``, ``0x8825``, ``0xA005``);
    xmp: the XMP packet (bytes); dpi: ``(x, y)``; icc: the ICC profile (bytes);
    format and mode: Pillow's names for the file's format and pixel mode.
    """
    exif: dict = None
    xmp: bytes = None
    dpi: tuple = None
    icc: bytes = None
    format: str = None
    mode: str = None

    def for_output(self, size, software=None, upright=True, strip=False, icc=...):
        """The metadata of an enhanced copy of ``size`` = (width, height) pixels.

        ``upright``: the pixels were turned as the EXIF Orientation said, so it becomes
        1 (in the XMP too). ``software`` fills the EXIF Software tag. ``strip`` keeps
        only the ICC profile. ``icc`` replaces the profile (None: untagged, i.e. sRGB).
        """
        icc = self.icc if icc is ... else icc
        if strip:
            return PhotoMeta(icc=icc, format=self.format, mode=self.mode)
        exif = copy.deepcopy(self.exif) if self.exif else {}
        if upright and (exif or self.xmp):
            exif[ORIENTATION] = 1
        if software:
            exif[SOFTWARE] = software
        sub = exif.get(EXIF_IFD)
        if isinstance(sub, dict):
            for tag, value in ((PIXEL_X, size[0]), (PIXEL_Y, size[1])):
                if tag in sub:
                    sub[tag] = int(value)
        xmp = _xmp_for_output(self.xmp, size, upright) if self.xmp else None
        return PhotoMeta(exif or None, xmp, self.dpi, icc, self.format, self.mode)


def _xmp_for_output(xmp, size, upright):
    """The XMP packet with its orientation (when ``upright``) and pixel dimensions updated.
    Both attribute (``tiff:Orientation="6"``) and element forms are rewritten."""
    text = xmp.decode("utf-8", "replace") if isinstance(xmp, bytes) else str(xmp)
    values = {"exif:PixelXDimension": size[0], "exif:PixelYDimension": size[1]}
    if upright:
        values["tiff:Orientation"] = 1
    for name, value in values.items():
        text = re.sub(rf'({re.escape(name)}\s*=\s*")[^"]*(")', rf"\g<1>{value}\g<2>", text)
        text = re.sub(rf"(<{re.escape(name)}>)[^<]*(</{re.escape(name)}>)",
                      rf"\g<1>{value}\g<2>", text)
    return text.encode("utf-8")


# ---- reading -----------------------------------------------------------------------------
def read_meta(path):
    """:class:`PhotoMeta` of the file ``path`` (empty where Pillow cannot parse it)."""
    from PIL import Image
    try:
        with Image.open(Path(path)) as im:
            return meta_of_pil(im)
    except Exception:  # a format Pillow lacks, or a damaged header: nothing to keep
        return PhotoMeta()


def meta_of_pil(image):
    """:class:`PhotoMeta` of a PIL image (its ``info`` and its EXIF)."""
    info = image.info
    xmp = info.get("xmp") or info.get("XML:com.adobe.xmp")
    if isinstance(xmp, str):
        xmp = xmp.encode("utf-8")
    dpi = info.get("dpi")
    if image.format == "TIFF" and X_RESOLUTION not in getattr(image, "tag_v2", {}):
        dpi = None                    # Pillow says 1 x 1 where a TIFF states no resolution
    if dpi is not None:
        try:
            dpi = tuple(round(float(v), 4) for v in dpi)
        except (TypeError, ValueError):
            dpi = None
        if not dpi or len(dpi) != 2 or min(dpi) <= 0:
            dpi = None
    return PhotoMeta(exif=_exif_dict(image), xmp=xmp or None, dpi=dpi,
                     icc=info.get("icc_profile") or None, format=image.format,
                     mode=image.mode)


def _exif_dict(image):
    """The EXIF of ``image`` as nested plain dicts (no links to the open file), without
    the pixel-layout tags of a TIFF's directory; None when there is none."""
    try:
        exif = image.getexif()
        out = {tag: value for tag, value in exif.items()
               if tag not in LAYOUT_TAGS and tag not in (EXIF_IFD, GPS_IFD)}
        for ifd in (EXIF_IFD, GPS_IFD):
            sub = dict(exif.get_ifd(ifd))
            if ifd == EXIF_IFD and sub.pop(INTEROP_IFD, None) is not None:
                try:   # Pillow 12 raises KeyError where 13 gives {}
                    interop = dict(exif.get_ifd(INTEROP_IFD))
                except KeyError:
                    interop = {}
                if interop:
                    sub[INTEROP_IFD] = interop
            if sub:
                out[ifd] = sub
    except Exception:  # a damaged EXIF block: the photo is still enhanced, without it
        return None
    return out or None


def pil_exif(exif):
    """A Pillow ``Image.Exif`` holding the nested dict ``exif``."""
    from PIL import Image
    out = Image.Exif()
    for tag, value in (exif or {}).items():
        out[tag] = value
    return out


def exif_bytes(exif):
    """The EXIF block (a TIFF structure, without the ``Exif\\0\\0`` prefix) of ``exif``."""
    return pil_exif(exif).tobytes()[6:]


# ---- writing -----------------------------------------------------------------------------
def output_format(path):
    """Pillow's format name for an output file's suffix; other suffixes are refused."""
    fmt = FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise MetadataError(f"{path}: cannot write photos as {Path(path).suffix or 'no suffix'}"
                            f"; use one of {', '.join(sorted(FORMATS))}")
    return fmt


def write_photo(path, img, bits=8, meta=None, quality=DEFAULT_QUALITY, chroma="444",
                cmyk=False):
    """Write ``img`` with ``meta`` (a :class:`PhotoMeta`, e.g. from
    :meth:`PhotoMeta.for_output`) atomically; the format follows the suffix.

    ``img``: uint8, uint16 or float in [0, 1]; H x W gray, H x W x 3 RGB, H x W x 4 RGBA
    (CMYK with ``cmyk=True``: JPEG and TIFF only). ``bits=16`` for PNG and TIFF only.
    ``quality`` (1-100) and ``chroma`` (444, 422, 420) apply to JPEG (quality to WebP).
    Returns notes (strings) on metadata that could not be kept, e.g. an XMP packet too
    large for one JPEG segment.
    """
    path = Path(path)
    fmt = output_format(path)
    if bits not in (8, 16):
        raise MetadataError(f"bits must be 8 or 16, got {bits}")
    if bits == 16 and fmt not in SIXTEEN_BIT_FORMATS:
        raise MetadataError(f"{path}: 16-bit output needs a .png or .tif file")
    if cmyk and fmt not in CMYK_FORMATS:
        raise MetadataError(f"{path}: CMYK pixels need a .jpg or .tif file")
    if chroma not in CHROMA:
        raise MetadataError(f"chroma must be one of {', '.join(CHROMA)}, got {chroma!r}")
    arr = to_uint16(img) if bits == 16 else to_uint8(img)
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (3, 4))):
        raise MetadataError(f"cannot write an image of shape {arr.shape}")
    meta = meta or PhotoMeta()
    notes = []
    exif = None
    if meta.exif:
        try:
            exif = exif_bytes(meta.exif)
        except Exception as exc:  # a value Pillow cannot write back: the rest is kept
            notes.append(f"EXIF left out: it could not be rewritten ({exc})")
    if fmt in ("JPEG", "WEBP"):
        data = _pillow_bytes(arr, fmt, meta, exif, quality, chroma, cmyk, notes)
    elif fmt == "PNG":
        data = _png_bytes(arr, meta, exif)
    else:
        data = _tiff_bytes(arr, meta, meta.exif if exif else None, cmyk)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return notes


def _mode(arr, cmyk):
    if arr.ndim == 2:
        return "L"
    return "RGB" if arr.shape[2] == 3 else ("CMYK" if cmyk else "RGBA")


def _pillow_bytes(arr, fmt, meta, exif, quality, chroma, cmyk, notes):
    from PIL import Image
    mode = _mode(arr, cmyk)
    if fmt == "JPEG" and mode == "RGBA":
        raise MetadataError("JPEG has no alpha channel: drop it or write a PNG")
    im = Image.fromarray(arr, mode)
    if fmt == "WEBP" and mode == "L":
        im = im.convert("RGB")
    kw = {"quality": int(quality)}
    if fmt == "JPEG":
        kw["subsampling"] = CHROMA[chroma]
        if exif and len(exif) + 6 > JPEG_SEGMENT:
            notes.append(f"EXIF left out: {len(exif)} bytes do not fit in a JPEG segment")
            exif = None
        if meta.xmp and len(meta.xmp) + len(XMP_JPEG_HEADER) > JPEG_SEGMENT:
            notes.append(f"XMP left out: {len(meta.xmp)} bytes do not fit in a JPEG segment")
            meta = PhotoMeta(meta.exif, None, meta.dpi, meta.icc)
        if meta.dpi:
            kw["dpi"] = tuple(max(1, round(v)) for v in meta.dpi)
    if exif:
        kw["exif"] = b"Exif\x00\x00" + exif
    if meta.icc:
        kw["icc_profile"] = meta.icc
    if meta.xmp:
        kw["xmp"] = meta.xmp
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def _cv2_bytes(arr, suffix):
    import cv2
    import numpy as np
    if arr.ndim == 3 and arr.shape[2] == 3:
        arr = arr[:, :, ::-1]
    elif arr.ndim == 3:
        arr = arr[:, :, [2, 1, 0, 3]]
    ok, buf = cv2.imencode(suffix, np.ascontiguousarray(arr))
    if not ok:
        raise OSError(f"OpenCV could not encode a {arr.shape} {arr.dtype} image as {suffix}")
    return buf.tobytes()


def _png_bytes(arr, meta, exif):
    """OpenCV's PNG with the metadata chunks added right after IHDR (before any IDAT)."""
    from PIL import PngImagePlugin
    data = _cv2_bytes(arr, ".png")
    if not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        raise OSError("OpenCV wrote a PNG that does not start with its header")
    end = 8 + 12 + struct.unpack(">I", data[8:12])[0]
    chunks = []
    if meta.icc:
        chunks.append((b"iCCP", b"ICC Profile\x00\x00" + zlib.compress(meta.icc)))
    if meta.dpi:
        chunks.append((b"pHYs", struct.pack(">IIB", *(round(v / 0.0254) for v in meta.dpi), 1)))
    if exif:
        chunks.append((b"eXIf", exif))
    if meta.xmp:
        chunks.append((b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + meta.xmp))
    buf = io.BytesIO()
    buf.write(data[:end])
    for kind, payload in chunks:
        PngImagePlugin.putchunk(buf, kind, payload)
    buf.write(data[end:])
    return buf.getvalue()


def _tiff_bytes(arr, meta, exif, cmyk):
    """A TIFF of ``arr`` whose first directory carries the metadata.

    The pixels are encoded by OpenCV (Pillow for CMYK); their strips are then laid out
    after a new directory that Pillow's IFD writer serialises from the encoder's own tags
    plus the EXIF (sub-directories included), ICC, XMP and resolution tags.
    """
    from PIL import Image, TiffImagePlugin
    if cmyk:
        buf = io.BytesIO()
        Image.fromarray(arr, "CMYK").save(buf, "TIFF")
        data = buf.getvalue()
    else:
        data = _cv2_bytes(arr, ".tif")
    with Image.open(io.BytesIO(data)) as im:
        src = im.tag_v2
        layout = {tag: (src.tagtype[tag], src[tag]) for tag in src}
    if STRIP_OFFSETS not in layout or STRIP_BYTE_COUNTS not in layout:
        raise OSError("the TIFF encoder wrote no pixel strips")
    offsets, counts = layout.pop(STRIP_OFFSETS)[1], layout[STRIP_BYTE_COUNTS][1]
    offsets = offsets if isinstance(offsets, tuple) else (offsets,)
    counts = counts if isinstance(counts, tuple) else (counts,)
    strips = b"".join(data[o:o + c] for o, c in zip(offsets, counts))
    ifd = TiffImagePlugin.ImageFileDirectory_v2(ifh=data[:8])
    for tag, (kind, value) in layout.items():     # the encoder's resolution (1 x 1) goes
        if tag not in (XMP_TAG, ICC_TAG, EXIF_IFD, GPS_IFD, X_RESOLUTION, Y_RESOLUTION,
                       RESOLUTION_UNIT):
            ifd.tagtype[tag] = kind
            ifd[tag] = value
    relative, position = [], 0           # Pillow adds the directory's end to these
    for c in counts:
        relative.append(position)
        position += c
    ifd.tagtype[STRIP_OFFSETS] = TiffImagePlugin.TiffTags.LONG
    ifd[STRIP_OFFSETS] = tuple(relative)
    for tag, value in (exif or {}).items():
        if tag not in ifd and tag not in LAYOUT_TAGS:
            ifd[tag] = value
    if meta.icc:
        ifd.tagtype[ICC_TAG] = TiffImagePlugin.TiffTags.UNDEFINED
        ifd[ICC_TAG] = meta.icc
    if meta.xmp:
        ifd.tagtype[XMP_TAG] = TiffImagePlugin.TiffTags.BYTE
        ifd[XMP_TAG] = meta.xmp
    if meta.dpi:
        ifd[X_RESOLUTION], ifd[Y_RESOLUTION] = (float(v) for v in meta.dpi)
        ifd[RESOLUTION_UNIT] = 2          # inches
    head = data[:4] + ifd._pack("L", 8)
    return head + ifd.tobytes(offset=8) + strips


__all__ = ["PhotoMeta", "MetadataError", "read_meta", "meta_of_pil", "write_photo",
           "output_format", "pil_exif", "exif_bytes", "FORMATS", "SIXTEEN_BIT_FORMATS",
           "CMYK_FORMATS", "DEFAULT_QUALITY", "CHROMA"]
