"""Colour spaces: photos whose ICC profile is not sRGB are enhanced in sRGB and put back.

The network was trained on sRGB photos. A :class:`Profile` converts a photo's pixels
from its embedded ICC profile (RGB, gray or CMYK) to sRGB before the network and the
result back afterwards, so the output can carry the input's profile again. All colour
maths is LittleCMS's: Pillow's ``ImageCms`` for 8-bit pixels, and for 16-bit pixels
(which ``ImageCms`` cannot hold in RGB) LittleCMS's own float transforms, from the copy
that Pillow loads (``ctypes``); where that library cannot be found, 16-bit pixels are
converted at 8-bit precision and a note says so. Rendering intent: relative colorimetric
both ways, so colours inside sRGB's gamut come back to themselves; colours outside it
are clipped to it (the network works in sRGB, [0, 1]).

Untagged photos are taken as sRGB, and so is a profile that moves no colour of a test
grid by more than one 8-bit step on its way to sRGB (the many sRGB profiles in use
differ in their bytes, not in their colours): those are not converted at all.
"""
import ctypes
import ctypes.util
import functools
import glob
import hashlib
import io
import os

import numpy as np

from ..errors import JsymnetError

SPACES = {"RGB": 3, "GRAY": 1, "CMYK": 4}       # the profile's colour space -> channels
PIL_MODES = {"RGB": "RGB", "GRAY": "L", "CMYK": "CMYK"}
SRGB_TOLERANCE = 1                               # 8-bit steps: what still counts as sRGB
INTENT_RELATIVE = 1

# LittleCMS pixel formats (lcms2.h: FLOAT_SH(1) | COLORSPACE_SH(pt) | CHANNELS_SH(n) |
# BYTES_SH(4)); CMYK floats are ink percentages, 0 to 100.
_PT_GRAY, _PT_RGB, _PT_CMYK = 3, 4, 6
_LCMS_FLOAT = {space: (1 << 22) | (pt << 16) | (n << 3) | 4 for space, pt, n in
               (("GRAY", _PT_GRAY, 1), ("RGB", _PT_RGB, 3), ("CMYK", _PT_CMYK, 4))}
_LCMS_SCALE = {"GRAY": 1.0, "RGB": 1.0, "CMYK": 100.0}
_LCMS_NO_CACHE = 0x0040


class ColourError(JsymnetError, ValueError):
    """An embedded ICC profile cannot be used; the message says what to do."""


def srgb_profile():
    """sRGB as a Pillow ``ImageCmsProfile`` (LittleCMS's built-in sRGB)."""
    from PIL import ImageCms
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


class Profile:
    """An embedded ICC profile and the conversions of its pixels to and from sRGB.

    Pixels are float arrays in [0, 1]: H x W (gray), H x W x 3 (RGB) or H x W x 4
    (CMYK ink). ``bits`` says how precisely they are known (8 or 16): 8-bit pixels go
    through ``ImageCms``, 16-bit ones through LittleCMS's float transforms.
    """

    def __init__(self, icc):
        from PIL import ImageCms
        self.icc = bytes(icc)
        try:
            self._cms = ImageCms.ImageCmsProfile(io.BytesIO(self.icc))
        except Exception as exc:  # ImageCms.PyCMSError, OSError: not a profile LittleCMS reads
            raise ColourError(f"the embedded ICC profile is not readable ({exc}); re-save "
                              f"the photo with a valid profile (or none) to fix it") from None
        self.space = self._cms.profile.xcolor_space.strip().upper()
        if self.space not in SPACES:
            raise ColourError(f"the embedded ICC profile is for {self.space!r} pixels; jsymnet "
                              f"converts RGB, gray and CMYK photos: convert it to sRGB first")
        self.channels = SPACES[self.space]
        self.name = (ImageCms.getProfileDescription(self._cms) or "").strip() or "unnamed"
        self._transforms = {}

    def __repr__(self):
        return f"Profile({self.name!r}, {self.space})"

    @property
    def is_srgb(self):
        """Whether this profile's colours are sRGB's (see the module doc)."""
        if self.space != "RGB":
            return False
        digest = hashlib.sha256(self.icc).hexdigest()
        if digest not in _SRGB_LIKE:
            _SRGB_LIKE[digest] = _srgb_like(self)
        return _SRGB_LIKE[digest]

    # ---- the two directions ----------------------------------------------------------
    def to_srgb(self, pixels, bits=8):
        """Pixels in this profile's space -> float32 H x W x 3 sRGB in [0, 1]."""
        return self._convert(pixels, bits, self.space, "RGB", to_srgb=True)

    def from_srgb(self, rgb, bits=8):
        """float H x W x 3 sRGB -> pixels in this profile's space, float32 in [0, 1]."""
        return self._convert(rgb, bits, "RGB", self.space, to_srgb=False)

    def precise(self, bits):
        """Whether ``bits``-bit pixels are converted at their own precision."""
        return bits == 8 or _lcms() is not None

    def _convert(self, pixels, bits, src, dst, to_srgb):
        pixels = np.asarray(pixels, np.float32)
        if pixels.ndim == 2:
            pixels = pixels[:, :, None]
        if pixels.shape[2] != SPACES[src]:
            raise ColourError(f"{self.name}: expected {SPACES[src]}-channel pixels, got "
                              f"shape {pixels.shape}")
        lcms = _lcms() if bits == 16 else None
        out = self._lcms_float(lcms, pixels, src, dst, to_srgb) if lcms else \
            self._imagecms(pixels, src, dst, to_srgb)
        out = np.clip(out, 0.0, 1.0, out=out)
        return out[:, :, 0] if dst == "GRAY" else out

    def _imagecms(self, pixels, src, dst, to_srgb):
        from PIL import Image, ImageCms
        key = ("cms", to_srgb)
        if key not in self._transforms:
            a, b = (self._cms, srgb_profile()) if to_srgb else (srgb_profile(), self._cms)
            self._transforms[key] = ImageCms.buildTransform(
                a, b, PIL_MODES[src], PIL_MODES[dst], renderingIntent=INTENT_RELATIVE)
        u8 = np.round(np.clip(pixels, 0.0, 1.0) * 255.0).astype(np.uint8)
        im = Image.fromarray(u8[:, :, 0] if src == "GRAY" else u8, PIL_MODES[src])
        out = np.asarray(ImageCms.applyTransform(im, self._transforms[key]), np.float32)
        out = out / np.float32(255.0)
        return out[:, :, None] if out.ndim == 2 else out

    def _lcms_float(self, lcms, pixels, src, dst, to_srgb):
        key = ("lcms", to_srgb)
        if key not in self._transforms:
            self._transforms[key] = _LcmsTransform(lcms, self.icc, src, dst, to_srgb)
        return self._transforms[key](pixels)


_SRGB_LIKE = {}   # sha256 of a profile's bytes -> whether it is sRGB


def _srgb_like(profile):
    """Whether ``profile`` (an RGB :class:`Profile`) leaves a grid of 16^3 colours within :data:`SRGB_TOLERANCE` 8-bit steps on its way to sRGB."""
    levels = np.arange(0, 256, 17, dtype=np.float32) / 255.0
    grid = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), -1).reshape(64, 64, 3)
    moved = profile._imagecms(grid, "RGB", "RGB", to_srgb=True) - grid
    return float(np.abs(moved).max()) * 255.0 <= SRGB_TOLERANCE + 0.5


def profile_for(icc, channels):
    """What to do with pixels of ``channels`` colour channels tagged with ``icc``.

    Returns ``(profile, keep, notes)``: ``profile`` is the :class:`Profile` to convert
    with, or None when there is nothing to convert (untagged, or sRGB); ``keep`` is the
    profile to tag the result with (the input's bytes, or None); a profile that cannot be
    read or does not fit the pixels is ignored and dropped, with a note.
    """
    if not icc:
        return None, None, []
    try:
        profile = Profile(icc)
    except ColourError as exc:
        return None, None, [f"{exc}; its colours were taken as sRGB and it was dropped"]
    if profile.channels != channels:
        return None, None, [f"the embedded ICC profile {profile.name!r} is for "
                            f"{profile.space} pixels, not for these; it was ignored (colours "
                            f"taken as sRGB) and dropped"]
    return (None if profile.is_srgb else profile), bytes(icc), []


# ---- LittleCMS's float transforms (16-bit pixels) ----------------------------------------
def _lcms_candidates():
    from PIL import Image
    base = os.path.dirname(Image.__file__)
    found = sorted(glob.glob(os.path.join(base, "..", "pillow.libs", "liblcms2*")))  # Linux
    found += sorted(glob.glob(os.path.join(base, ".dylibs", "liblcms2*")))           # macOS
    system = ctypes.util.find_library("lcms2")
    return found + ([system] if system else [])


@functools.lru_cache(maxsize=1)
def _lcms():
    """LittleCMS 2 through ``ctypes`` (Pillow's own copy, else the system's), or None."""
    for path in _lcms_candidates():
        try:
            lib = ctypes.CDLL(path)
            lib.cmsOpenProfileFromMem.restype = ctypes.c_void_p
            lib.cmsOpenProfileFromMem.argtypes = [ctypes.c_char_p, ctypes.c_uint32]
            lib.cmsCreate_sRGBProfile.restype = ctypes.c_void_p
            lib.cmsCreate_sRGBProfile.argtypes = []
            lib.cmsCreateTransform.restype = ctypes.c_void_p
            lib.cmsCreateTransform.argtypes = [ctypes.c_void_p, ctypes.c_uint32,
                                               ctypes.c_void_p, ctypes.c_uint32,
                                               ctypes.c_uint32, ctypes.c_uint32]
            lib.cmsDoTransform.restype = None
            lib.cmsDoTransform.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                                           ctypes.c_uint32]
            lib.cmsDeleteTransform.argtypes = [ctypes.c_void_p]
            lib.cmsCloseProfile.argtypes = [ctypes.c_void_p]
        except (OSError, AttributeError):
            continue
        return lib
    return None


class _LcmsTransform:
    """One LittleCMS float transform between an ICC profile and sRGB."""

    def __init__(self, lib, icc, src, dst, to_srgb):
        self.lib, self.src, self.dst = lib, src, dst
        own = lib.cmsOpenProfileFromMem(icc, len(icc))
        srgb = lib.cmsCreate_sRGBProfile()
        if not own or not srgb:
            raise ColourError("LittleCMS could not open the embedded ICC profile for a 16-bit "
                              "conversion; convert the photo to sRGB first")
        a, b = (own, srgb) if to_srgb else (srgb, own)
        self.handle = lib.cmsCreateTransform(a, _LCMS_FLOAT[src], b, _LCMS_FLOAT[dst],
                                             INTENT_RELATIVE, _LCMS_NO_CACHE)
        lib.cmsCloseProfile(own)
        lib.cmsCloseProfile(srgb)
        if not self.handle:
            raise ColourError(f"LittleCMS could not convert {src} pixels to {dst} with the "
                              f"embedded ICC profile; convert the photo to sRGB first")

    def __call__(self, pixels):
        h, w = pixels.shape[:2]
        src = np.ascontiguousarray(pixels * np.float32(_LCMS_SCALE[self.src]), np.float32)
        out = np.empty((h, w, SPACES[self.dst]), np.float32)
        self.lib.cmsDoTransform(self.handle, src.ctypes.data, out.ctypes.data, h * w)
        return out / np.float32(_LCMS_SCALE[self.dst])

    def __del__(self):
        if getattr(self, "handle", None):
            self.lib.cmsDeleteTransform(self.handle)
            self.handle = None


__all__ = ["Profile", "ColourError", "profile_for", "srgb_profile", "SRGB_TOLERANCE"]
