"""Where a feature map keeps its channels: the one module that knows.

Images and features cross every public module boundary as N x C x H x W, on every
device and every layout: ``model.enhance(x)``, ``model.encoder(x)``, ``model.ift(f)``,
a block, a subnet, the codec's ``encode`` / ``decode`` (:func:`public`; a map of the
wrong shape is a :class:`FeatureShapeError` that names the expected one). Inside, the
network's own calls (each module's ``run``) pass activations in the *active layout*:

* ``NCHW``, N x C x H x W: Jittor's own convolution. On CUDA (cuDNN) and where
  oneDNN is missing.
* ``NHWC``, N x H x W x C, channels last: on the CPU with oneDNN. oneDNN's fast
  convolutions (``brgconv``) compute channels-last; handed N x C x H x W they
  reorder every input to N x H x W x C and every output back, which on this
  project's machines was about half of each convolution's time.
  Here the convolutions call oneDNN with channels-last tensors directly
  (:class:`_ChannelsLastConv`, its forward and both backward operations), so
  nothing is reordered between the codec's first convolution and its last.

Every operation of the network whose meaning depends on where the channels are
is a method of :class:`Layout`: convolution and transposed convolution, channel
split and concatenation, the attention's global mean over H and W, the Haar
codec's 2x2 pixel phases, tile masks, and the NumPy feature maps of the exact
tiled runner. Modules call ``layout.active()``'s methods and never test the
layout themselves; everything else they do (PReLU with one slope, sigmoid,
exp, sums) is pointwise and the same in both.

The active layout follows ``JSYMNET_LAYOUT`` = ``auto`` (default: NHWC on the
CPU with oneDNN, else NCHW), ``nchw`` or ``nhwc``, on the current device;
:func:`use_layout` switches it for a block of code (tests, benchmarks); a
model holds no layout, so a checkpoint is the same in both. Both layouts give
the same numbers to float32 rounding (``tests/test_layout.py``).
"""
import contextlib
import os

import jittor as jt
import numpy as np
from jittor import nn

from ..errors import JsymnetError
from ..runtime import onednn_ops

LAYOUT_ENV = "JSYMNET_LAYOUT"


class LayoutError(JsymnetError, ValueError):
    """An unknown layout, or channels-last asked for where oneDNN is not available."""


class Layout:
    """The layout-dependent operations, given the axis of the channels and of H, W.

    Methods on Jittor vars take batched 4-D maps; the ``np_`` methods take one
    image's 3-D NumPy map (what the tiled runner stores): C x H x W or H x W x C.
    """

    name = None
    channel_axis = None      # of a batched map
    spatial_axes = None

    # -- the public boundary ----------------------------------------------------------
    def to_internal(self, x):
        """An N x C x H x W var in this layout."""
        raise NotImplementedError

    def to_public(self, x):
        """A var in this layout as N x C x H x W."""
        raise NotImplementedError

    # -- convolutions (stride 1, dilation 1, one group: all the network has) -------------
    def conv(self, x, weight, bias=None, padding=0):
        """conv2d of ``x`` with an O x I x kh x kw ``weight``, zero ``padding``, ``bias`` (O,)."""
        raise NotImplementedError

    def conv_transpose(self, x, weight, padding=0):
        """The transposed convolution of ``x`` with an I x O x kh x kw ``weight`` (Jittor's
        and PyTorch's layout): the adjoint of ``conv`` with that weight."""
        raise NotImplementedError

    # -- channels ---------------------------------------------------------------------
    def channels(self, x):
        return x.shape[self.channel_axis]

    def size(self, x):
        """(H, W) of a batched map."""
        return tuple(x.shape[a] for a in self.spatial_axes)

    def channel_slice(self, x, start, stop):
        """Channels ``start:stop`` of a batched map."""
        index = [slice(None)] * 4
        index[self.channel_axis] = slice(start, stop)
        return x[tuple(index)]

    def split(self, x, c):
        """(channels :c, channels c:)."""
        return self.channel_slice(x, 0, c), self.channel_slice(x, c, None)

    def concat(self, maps):
        return jt.concat(list(maps), dim=self.channel_axis)

    def spatial_mean(self, x):
        """The per-channel mean over H and W, kept 4-D (what the attention pools)."""
        return x.mean(dims=self.spatial_axes, keepdims=True)

    def vector(self, values):
        """Per-channel values (NumPy, length C) as a var that broadcasts over a map."""
        shape = [1, 1, 1, 1]
        shape[self.channel_axis] = -1
        return jt.array(np.asarray(values, np.float32).reshape(shape))

    def mask(self, plane):
        """A 0/1 NumPy H x W plane as a var that multiplies every channel of a map."""
        shape = [1, 1, 1, 1]
        for a, n in zip(self.spatial_axes, plane.shape):
            shape[a] = n
        return jt.array(np.asarray(plane, np.float32).reshape(shape))

    # -- 2x2 pixel phases (the Haar codec) ----------------------------------------------
    def phases(self, x):
        """(a, b, c, d), each H/2 x W/2: of every 2x2 block [[a, b], [c, d]]."""
        raise NotImplementedError

    def from_phases(self, a, b, c, d):
        """The inverse of :meth:`phases`."""
        raise NotImplementedError

    # -- one image's NumPy map (the tiled runner) ----------------------------------------
    def np_shape(self, c, h, w):
        raise NotImplementedError

    def np_at(self, rows, cols, chans=slice(None)):
        """The index of rows x cols (x channels) in one image's map."""
        raise NotImplementedError

    def np_size(self, arr):
        """(H, W) of one image's map."""
        raise NotImplementedError

    def np_channels(self, arr):
        raise NotImplementedError

    def np_channel_slice(self, start, stop):
        """The index of channels ``start:stop`` (all pixels) in one image's map."""
        return self.np_at(slice(None), slice(None), slice(start, stop))

    def np_from_image(self, image):
        """An H x W x C image as a map (a view where the layouts agree)."""
        raise NotImplementedError

    def np_to_image(self, arr):
        """One image's map as a new H x W x C array."""
        raise NotImplementedError

    def np_channel_sums(self, arr):
        """float64 per-channel sums of one image's map."""
        raise NotImplementedError

    def __repr__(self):
        return f"Layout({self.name})"


class _NCHW(Layout):
    name = "nchw"
    channel_axis = 1
    spatial_axes = (2, 3)

    def to_internal(self, x):
        return x

    def to_public(self, x):
        return x

    def conv(self, x, weight, bias=None, padding=0):
        return nn.conv2d(x, weight, bias, padding=padding)

    def conv_transpose(self, x, weight, padding=0):
        return nn.conv_transpose2d(x, weight, padding=padding)

    def phases(self, x):
        n, c, h, w = x.shape
        x = x.reshape(n, c, h // 2, 2, w // 2, 2)
        return (x[:, :, :, 0, :, 0], x[:, :, :, 0, :, 1],
                x[:, :, :, 1, :, 0], x[:, :, :, 1, :, 1])

    def from_phases(self, a, b, c, d):
        n, ch, h, w = a.shape
        top, bottom = jt.stack([a, b], dim=4), jt.stack([c, d], dim=4)   # N x C x H x W x 2
        return jt.stack([top, bottom], dim=3).reshape(n, ch, 2 * h, 2 * w)

    def np_shape(self, c, h, w):
        return (c, h, w)

    def np_at(self, rows, cols, chans=slice(None)):
        return (chans, rows, cols)

    def np_size(self, arr):
        return arr.shape[1:]

    def np_channels(self, arr):
        return arr.shape[0]

    def np_from_image(self, image):
        return np.ascontiguousarray(np.transpose(image, (2, 0, 1)))

    def np_to_image(self, arr):
        return np.ascontiguousarray(np.transpose(arr, (1, 2, 0)))

    def np_channel_sums(self, arr):
        return arr.sum(axis=(1, 2), dtype=np.float64)


class _NHWC(Layout):
    name = "nhwc"
    channel_axis = 3
    spatial_axes = (1, 2)

    def to_internal(self, x):
        return x.transpose(0, 2, 3, 1)

    def to_public(self, x):
        return x.transpose(0, 3, 1, 2)

    def conv(self, x, weight, bias=None, padding=0):
        y = _ChannelsLastConv()(x, weight, padding)
        return y if bias is None else y + bias.broadcast(y, [0, 1, 2])

    def conv_transpose(self, x, weight, padding=0):
        return _ChannelsLastConvTranspose()(x, weight, padding)

    def phases(self, x):
        n, h, w, c = x.shape
        x = x.reshape(n, h // 2, 2, w // 2, 2, c)
        return (x[:, :, 0, :, 0], x[:, :, 0, :, 1], x[:, :, 1, :, 0], x[:, :, 1, :, 1])

    def from_phases(self, a, b, c, d):
        n, h, w, ch = a.shape
        top, bottom = jt.stack([a, b], dim=3), jt.stack([c, d], dim=3)   # N x H x W x 2 x C
        return jt.stack([top, bottom], dim=2).reshape(n, 2 * h, 2 * w, ch)

    def np_shape(self, c, h, w):
        return (h, w, c)

    def np_at(self, rows, cols, chans=slice(None)):
        return (rows, cols, chans)

    def np_size(self, arr):
        return arr.shape[:2]

    def np_channels(self, arr):
        return arr.shape[2]

    def np_from_image(self, image):
        return np.ascontiguousarray(image)

    def np_to_image(self, arr):
        return np.array(arr, np.float32)   # a copy: ``arr`` may be a temporary memory map

    def np_channel_sums(self, arr):
        return arr.sum(axis=(0, 1), dtype=np.float64)


# -- oneDNN's convolutions on channels-last tensors ---------------------------------------
# Jittor's mkl_conv* operations take the memory order of each tensor as a format string:
# "acdb" is N x H x W x C, "oihw" the weight as stored. They define no gradient
# (jt.grad through them gives zeros), hence the two Functions.
_ACDB = ("acdb", "oihw", "acdb")


def _onednn():
    ops = onednn_ops()
    if ops is None:
        raise LayoutError("the channels-last layout needs oneDNN, which this Jittor has not "
                          "loaded; set JSYMNET_LAYOUT=nchw (or auto), or install jsymnet's "
                          "oneDNN dependency (see docs/installation.md)")
    return ops


def _geometry(padding):
    return (1, 1, padding, padding, 1, 1, 1) + _ACDB


class _ChannelsLastConv(jt.Function):
    """y = conv(x, w): x N x H x W x I, w O x I x kh x kw, y N x H' x W' x O.

    Backward: dx = conv_transpose(dy, w) (``mkl_conv_backward_x``) and
    dw = ``mkl_conv_backward_w(x, dy)``; Jittor computes only the ones used.
    """

    def execute(self, x, weight, padding):
        self.x, self.weight, self.padding = x, weight, padding
        return _onednn().mkl_conv(x, weight, *_geometry(padding))

    def grad(self, gy):
        if gy is None:
            return None, None, None
        ops, x, w, p = _onednn(), self.x, self.weight, self.padding
        gx = ops.mkl_conv_backward_x(w, gy, x.shape[1], x.shape[2], *_geometry(p))
        gw = ops.mkl_conv_backward_w(x, gy, w.shape[2], w.shape[3], *_geometry(p))
        return gx, gw, None


class _ChannelsLastConvTranspose(jt.Function):
    """y = conv_transpose(x, w), the adjoint of ``conv(., w)``: x N x H x W x I and w
    I x O x kh x kw, read as the weight of the convolution that maps O channels to I.

    It is that convolution's input gradient (``mkl_conv_backward_x``); its own input
    gradient is that convolution (``mkl_conv``), its weight gradient
    ``mkl_conv_backward_w(dy, x)``.
    """

    def execute(self, x, weight, padding):
        self.x, self.weight, self.padding = x, weight, padding
        kh, kw = weight.shape[2], weight.shape[3]
        h, w = x.shape[1] + kh - 1 - 2 * padding, x.shape[2] + kw - 1 - 2 * padding
        return _onednn().mkl_conv_backward_x(weight, x, h, w, *_geometry(padding))

    def grad(self, gy):
        if gy is None:
            return None, None, None
        ops, x, w, p = _onednn(), self.x, self.weight, self.padding
        gx = ops.mkl_conv(gy, w, *_geometry(p))
        gw = ops.mkl_conv_backward_w(gy, x, w.shape[2], w.shape[3], *_geometry(p))
        return gx, gw, None


# -- the active layout -------------------------------------------------------------------
NCHW = _NCHW()
NHWC = _NHWC()
LAYOUTS = {"nchw": NCHW, "nhwc": NHWC}
_active = []
_resolved = {}   # (name, on CUDA) -> layout: active() runs on every convolution


def resolve(name):
    """The layout named ``name`` (``auto``, ``nchw`` or ``nhwc``) on the current device."""
    key = (name, bool(jt.flags.use_cuda))
    if key not in _resolved:
        _resolved[key] = _resolve(name, key[1])
    return _resolved[key]


def _resolve(name, cuda):
    name = (name or "auto").strip().lower()
    if name == "auto":
        return NHWC if (not cuda and onednn_ops() is not None) else NCHW
    if name not in LAYOUTS:
        raise LayoutError(f"{LAYOUT_ENV}={name!r}: choose auto, nchw or nhwc")
    if LAYOUTS[name] is NHWC:
        _onednn()
        if cuda:
            raise LayoutError("the channels-last layout is CPU-only (oneDNN); on CUDA use "
                              f"{LAYOUT_ENV}=auto or nchw")
    return LAYOUTS[name]


def active():
    """The layout the network runs in now: the innermost :func:`use_layout`, else
    ``JSYMNET_LAYOUT`` on the current device."""
    return _active[-1] if _active else resolve(os.environ.get(LAYOUT_ENV))


@contextlib.contextmanager
def use_layout(name):
    """Run the enclosed code in layout ``name`` (or a :class:`Layout`)."""
    layout = name if isinstance(name, Layout) else resolve(name)
    _active.append(layout)
    try:
        yield layout
    finally:
        _active.pop()


# -- the public boundary of every module -----------------------------------------------------
class FeatureShapeError(JsymnetError, ValueError):
    """A feature map handed to a public module is not N x C x H x W with its channels."""


def check_features(x, channels, where):
    """Raise :class:`FeatureShapeError` unless ``x`` is N x ``channels`` x H x W."""
    shape = tuple(x.shape)
    if len(shape) == 4 and shape[1] == channels:
        return
    hint = ""
    if len(shape) == 4 and shape[3] == channels:
        hint = ("; it looks channels-last (N x H x W x C): pass x.permute(0, 3, 1, 2). Public "
                "modules take N x C x H x W on every device; the layout inside is their own")
    raise FeatureShapeError(f"{where} takes N x {channels} x H x W features, got shape "
                            f"{shape}{hint}")


def public(fn, x, channels, where):
    """``fn`` (a computation in the active layout) as a public module's forward: ``x``
    checked to be N x ``channels`` x H x W, brought into the active layout, and ``fn``'s
    result handed back as N x C x H x W. In the N x C x H x W layout both moves are the
    identity; channels-last or any other layout stays inside, as PyTorch's
    ``channels_last`` keeps a tensor's shape while it changes its memory order."""
    check_features(x, channels, where)
    lay = active()
    return lay.to_public(fn(lay.to_internal(x)))
