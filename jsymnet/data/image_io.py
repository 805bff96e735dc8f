"""Reading and writing images: RGB float32 H x W x 3 in [0, 1] (docs/design.md#data-flow).

:func:`read_image` decodes with OpenCV (8- and 16-bit, grayscale, alpha) and
falls back to Pillow for formats OpenCV lacks (GIF ...). The EXIF orientation
tag is applied, so a photo comes out the way viewers show it. Grayscale is
repeated to three channels; alpha is dropped (with a warning when it is not
opaque) or returned on request. Anything else is refused with a message that
names the file and what is wrong, never silently mangled.

:func:`load_cmyk` gives a CMYK file's ink, which its ICC profile describes
(:mod:`jsymnet.data.colour`). :func:`write_image` writes 8-bit images atomically
(a complete file or none); photos with their metadata are written by
:func:`jsymnet.data.metadata.write_photo`.
"""
import os
import re
import warnings
from pathlib import Path

import cv2
import numpy as np

from ..errors import JsymnetError
from ..utils.fileio import atomic_path
from ..utils.limits import DEFAULT_MAX_IMAGE_PIXELS, MAX_PIXELS_ENV

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm",
                    ".pgm", ".gif")
EXIF_ORIENTATION_TAG = 0x0112


class ImageReadError(JsymnetError, ValueError):
    """An image file is missing, unreadable or of a kind jsymnet does not take."""


def is_image_file(path):
    path = Path(path)
    return path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS and \
        not path.name.startswith(".")


def exif_orientation(path):
    """The EXIF orientation (1-8) of ``path``; 1 when absent or unreadable."""
    from PIL import Image
    try:
        with Image.open(path) as im:
            value = im.getexif().get(EXIF_ORIENTATION_TAG, 1)
    except Exception:  # no EXIF block, or not a format Pillow knows
        return 1
    return int(value) if value in range(1, 9) else 1


def apply_orientation(img, orientation):
    """Turn an H x W (x C) array as EXIF orientation 1-8 says, to its upright view."""
    ops = {
        1: lambda a: a,
        2: lambda a: a[:, ::-1],                  # mirrored left-right
        3: lambda a: a[::-1, ::-1],               # rotated 180
        4: lambda a: a[::-1, :],                  # mirrored top-bottom
        5: lambda a: np.swapaxes(a, 0, 1),        # transposed
        6: lambda a: np.rot90(a, k=-1),           # rotated 90 clockwise to view
        7: lambda a: np.swapaxes(a, 0, 1)[::-1, ::-1],  # transverse
        8: lambda a: np.rot90(a, k=1),            # rotated 90 counter-clockwise to view
    }
    return np.ascontiguousarray(ops.get(int(orientation), ops[1])(img))


def max_image_pixels():
    """The largest image (in pixels) jsymnet decodes: ``$JSYMNET_MAX_IMAGE_PIXELS``, by
    default Pillow's own error threshold (about 179 megapixels). A few bytes of PNG can
    declare 30000 x 30000 pixels; decoding that would take the machine's memory."""
    value = os.environ.get(MAX_PIXELS_ENV)
    try:
        return int(float(value)) if value else DEFAULT_MAX_IMAGE_PIXELS
    except ValueError:
        raise ImageReadError(f"{MAX_PIXELS_ENV}={value!r} is not a number of pixels") from None


def _check_header(path):
    """Refuse, from the header alone, an image too large to decode or an animation."""
    from PIL import Image
    limit = max_image_pixels()
    try:
        with Image.open(path) as im:
            w, h = im.size
            try:
                frames = getattr(im, "n_frames", 1)
            except Exception:  # a damaged stream: the decoder below says what is wrong
                frames = 1
    except Image.DecompressionBombError as exc:  # Pillow's own limit, from the header too
        pixels = int(re.search(r"\((\d+) pixels\)", str(exc)).group(1))
        w, h, frames = pixels, 1, 1
        size = f"{pixels / 1e6:.0f} megapixels"
    except Exception:  # Pillow cannot parse it: OpenCV's own limit (set in runtime) applies
        return
    else:
        size = f"{w} x {h} = {w * h / 1e6:.0f} megapixels"
    if w * h > limit:
        raise ImageReadError(
            f"{path} is {size}, more than the "
            f"{limit / 1e6:.0f} megapixels jsymnet decodes (a decompression bomb, or a huge "
            f"photo); if it is real, raise the limit with --max-image-megapixels or "
            f"{MAX_PIXELS_ENV}")
    if frames > 1:
        raise ImageReadError(f"{path} is an animation of {frames} frames; jsymnet enhances "
                             f"still images: extract the frames first (e.g. with ffmpeg)")


def image_size(path):
    """(width, height) of ``path`` as :func:`read_image` returns it (EXIF orientation
    applied), from the header alone; None when Pillow cannot parse the header."""
    from PIL import Image
    try:
        with Image.open(path) as im:
            w, h = im.size
    except Exception:
        return None
    return (h, w) if exif_orientation(path) in (5, 6, 7, 8) else (w, h)


def _decode(path):
    """The raw array of ``path`` (channels RGB/RGBA/gray) without orientation."""
    _check_header(path)
    data = np.fromfile(str(path), dtype=np.uint8)
    try:
        img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    except cv2.error as exc:  # e.g. over OpenCV's pixel limit, for a format Pillow lacks
        raise ImageReadError(f"cannot read image {path}: {str(exc).strip().splitlines()[-1]}; "
                             f"if it is a real image larger than "
                             f"{max_image_pixels() / 1e6:.0f} megapixels, raise "
                             f"{MAX_PIXELS_ENV}") from None
    if img is not None:
        if img.ndim == 3 and img.shape[2] == 3:
            img = img[:, :, ::-1]
        elif img.ndim == 3 and img.shape[2] == 4:
            img = img[:, :, [2, 1, 0, 3]]
        return img
    from PIL import Image
    try:
        with Image.open(path) as im:
            im.seek(0)
            if im.mode == "P":
                im = im.convert("RGBA" if "transparency" in im.info else "RGB")
            elif im.mode in ("CMYK", "YCbCr", "LAB", "HSV"):
                im = im.convert("RGB")
            elif im.mode == "1":
                im = im.convert("L")
            return np.array(im)
    except Exception as exc:
        raise ImageReadError(f"cannot read image {path}: not a readable image file "
                             f"({type(exc).__name__}: {exc}); is it truncated or not an "
                             f"image? Replace or remove it.") from None


def unit_float(img, what="image"):
    """float32 in [0, 1] of 8-bit, 16-bit, boolean or [0, 1] floating-point pixels (the
    one conversion of file pixels and of arrays handed to :func:`jsymnet.enhance`)."""
    if img.dtype == np.uint8:
        return img.astype(np.float32) / np.float32(255.0)
    if img.dtype == np.uint16:
        return img.astype(np.float32) / np.float32(65535.0)
    if img.dtype == np.bool_:
        return img.astype(np.float32)
    if np.issubdtype(img.dtype, np.floating):
        img = img.astype(np.float32)
        if img.size and (not np.isfinite(img).all() or img.min() < 0.0 or img.max() > 1.0):
            raise ImageReadError(f"{what}: floating-point pixels must lie in [0, 1] (min "
                                 f"{np.nanmin(img):.4g}, max {np.nanmax(img):.4g}); jsymnet "
                                 f"takes display-referred images: divide 8-bit data by 255, "
                                 f"or give 8- or 16-bit integers")
        return img
    raise ImageReadError(f"{what}: unsupported pixel type {img.dtype}; use 8- or 16-bit "
                         f"integers or floats in [0, 1]")


def split_image(arr, what="image"):
    """(colour, alpha, gray) of an H x W, H x W x 1/2/3/4 image in its own dtype: colour
    H x W x 1 (gray) or H x W x 3, alpha H x W (or None)."""
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 2:
        return arr[:, :, None], None, True
    if arr.ndim == 3 and arr.shape[2] in (2, 3, 4):
        alpha = arr[:, :, -1] if arr.shape[2] in (2, 4) else None
        colour = arr[:, :, :1] if arr.shape[2] == 2 else arr[:, :, :3]
        return colour, alpha, arr.shape[2] == 2
    raise ImageReadError(f"{what}: unsupported image layout {arr.shape}; expected H x W "
                         f"(gray), H x W x 3 (RGB) or with alpha H x W x 2 / H x W x 4")


def rgb_of(colour):
    """H x W x 3 of H x W x 1 (gray, repeated) or H x W x 3 float pixels."""
    return np.repeat(colour, 3, axis=2) if colour.shape[2] == 1 else colour


class LoadedImage(tuple):
    """What :func:`load_image` found: ``(rgb, alpha, gray, bits)``.

    rgb: float32 H x W x 3 in [0, 1] (EXIF orientation applied); alpha: H x W
    float32 or None; gray: the file had one colour channel; bits: 8 or 16 (the
    file's sample depth; floating-point files count as 16).
    """

    def __new__(cls, rgb, alpha, gray, bits):
        return super().__new__(cls, (rgb, alpha, gray, bits))

    rgb = property(lambda self: self[0])
    alpha = property(lambda self: self[1])
    gray = property(lambda self: self[2])
    bits = property(lambda self: self[3])


def load_image(path):
    """Like ``read_image(path, return_alpha=True)``, and also the file's mode and depth.

    Returns a :class:`LoadedImage` (rgb, alpha, gray, bits), so that a caller
    can write its result back the way the input was stored.
    """
    path = Path(path)
    if not path.exists():
        raise ImageReadError(f"image not found: {path}")
    if not path.is_file():
        raise ImageReadError(f"not a file: {path}")
    raw = _decode(path)
    colour, alpha, gray = split_image(raw, str(path))
    bits = 8 if raw.dtype in (np.uint8, np.bool_) else 16
    img = rgb_of(unit_float(colour, str(path)))
    alpha = None if alpha is None else unit_float(alpha, str(path))
    orientation = exif_orientation(path)
    img = apply_orientation(img, orientation)
    if alpha is not None:
        alpha = apply_orientation(alpha, orientation)
    return LoadedImage(img, alpha, gray, bits)


def load_cmyk(path):
    """The ink of a CMYK file (JPEG, TIFF) as float32 H x W x 4 in [0, 1], EXIF orientation
    applied: the pixels its ICC profile describes (:mod:`jsymnet.data.colour`), where
    :func:`load_image` gives the decoder's own uncalibrated RGB."""
    from PIL import Image
    _check_header(path)
    try:
        with Image.open(path) as im:
            if im.mode != "CMYK":
                raise ImageReadError(f"{path} is {im.mode}, not CMYK")
            ink = np.asarray(im, np.float32) / np.float32(255.0)
    except ImageReadError:
        raise
    except Exception as exc:
        raise ImageReadError(f"cannot read the CMYK pixels of {path} ({type(exc).__name__}: "
                             f"{exc}); is it truncated? Replace or remove it.") from None
    return apply_orientation(ink, exif_orientation(path))


def read_image(path, return_alpha=False):
    """RGB float32 H x W x 3 in [0, 1] from any image file.

    Grayscale becomes three equal channels; 16-bit is scaled by 1/65535;
    EXIF orientation is applied. With ``return_alpha`` the result is
    ``(rgb, alpha)`` where alpha is H x W float32 or None when the file has none;
    otherwise alpha is dropped (warning when it is not fully opaque).
    """
    img, alpha, _, _ = load_image(path)
    if return_alpha:
        return img, alpha
    if alpha is not None and alpha.min() < 1.0:
        warnings.warn(f"{path}: alpha channel is not fully opaque; it was dropped (the RGB "
                      f"values are used as they are)", RuntimeWarning, stacklevel=2)
    return img


def to_uint8(img):
    """uint8 copy of an image: floats in [0, 1] are clamped, scaled by 255 and rounded."""
    img = np.asarray(img)
    if img.dtype == np.uint8:
        return img.copy()
    if not np.issubdtype(img.dtype, np.floating):
        raise TypeError(f"expected a float image in [0, 1] or uint8, got {img.dtype}")
    return np.round(np.clip(img.astype(np.float64), 0.0, 1.0) * 255.0).astype(np.uint8)


def to_uint16(img):
    """uint16 copy of an image: floats in [0, 1] are clamped, scaled by 65535 and rounded."""
    img = np.asarray(img)
    if img.dtype == np.uint16:
        return img.copy()
    if img.dtype == np.uint8:
        return img.astype(np.uint16) * 257
    if not np.issubdtype(img.dtype, np.floating):
        raise TypeError(f"expected a float image in [0, 1], uint8 or uint16, got {img.dtype}")
    return np.round(np.clip(img.astype(np.float64), 0.0, 1.0) * 65535.0).astype(np.uint16)


# The luma weights, in one place: BT.601 (Pillow's "L", YCbCr's Y) and BT.709 (sRGB's own
# primaries, the brightness figure of comparisons and of the bracket rules).
LUMA_601 = np.array([0.299, 0.587, 0.114], dtype=np.float32)
LUMA_709 = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)


def srgb_to_linear(x):
    """The sRGB transfer function undone (IEC 61966-2-1): sRGB values -> linear light."""
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x):
    """Linear light (clamped to [0, 1]) -> sRGB values (IEC 61966-2-1)."""
    x = np.clip(x, 0.0, 1.0)
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * np.power(x, 1 / 2.4) - 0.055)


def linear_gain(rgb, gain):
    """sRGB ``rgb`` times ``gain`` in linear light, clipped to [0, 1] (an exposure change)."""
    return np.clip(linear_to_srgb(srgb_to_linear(np.clip(rgb, 0.0, 1.0)) * gain), 0.0, 1.0)


def rgb_to_gray(img):
    """Luma of an H x W x 3 float RGB image (ITU-R BT.601 weights, as Pillow's "L")."""
    return np.asarray(img, np.float32) @ LUMA_601


SIXTEEN_BIT_SUFFIXES = (".png", ".tif", ".tiff")


def write_image(path, img, bits=8):
    """Write an RGB (H x W x 3), RGBA (H x W x 4) or gray (H x W) image, atomically.

    ``img`` is uint8, uint16 or float in [0, 1] (clamped and rounded). The
    format follows the file suffix (PNG recommended: lossless). ``bits=16``
    writes 16-bit samples (PNG and TIFF only).
    """
    path = Path(path)
    if bits == 16:
        if path.suffix.lower() not in SIXTEEN_BIT_SUFFIXES:
            raise ValueError(f"{path}: 16-bit output needs a .png or .tif file, not "
                             f"{path.suffix or 'no suffix'}")
        arr = to_uint16(img)
    elif bits == 8:
        arr = to_uint8(img)
    else:
        raise ValueError(f"bits must be 8 or 16, got {bits}")
    if arr.ndim == 3 and arr.shape[2] == 3:
        arr = arr[:, :, ::-1]
    elif arr.ndim == 3 and arr.shape[2] == 4:
        arr = arr[:, :, [2, 1, 0, 3]]
    elif arr.ndim != 2:
        raise ValueError(f"cannot write an image of shape {arr.shape}")
    with atomic_path(path) as tmp:
        ok, buf = cv2.imencode(path.suffix or ".png", np.ascontiguousarray(arr))
        if not ok:
            raise OSError(f"could not encode {path} (unknown suffix {path.suffix!r}?)")
        buf.tofile(str(tmp))
    return path


def shrink(img, scale, min_side=1):
    """Downscale both sides by ``scale`` < 1 (area filter), neither below ``min_side``;
    else unchanged."""
    h, w = img.shape[:2]
    size = (max(min_side, round(w * scale)), max(min_side, round(h * scale)))
    if scale >= 1.0 or size == (w, h):
        return img
    return cv2.resize(np.ascontiguousarray(img), size, interpolation=cv2.INTER_AREA)


def resize_max_side(img, max_side):
    """Downscale so that the longer side is at most ``max_side`` (area filter); else unchanged."""
    if not max_side:
        return img
    return shrink(img, max_side / max(img.shape[:2]))
