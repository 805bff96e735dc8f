"""Coupling subnetworks F, G, H: the RRAM of SPEC section 4 and its Table 2 ablations.

Every subnet maps ``in_channels`` to ``out_channels`` at the same H x W and
starts as the zero function (exit conv zero-initialised), so each coupling
block of a freshly built network is the identity.

Each subnet is written once, as :class:`~.stages.Stage` s cut at its global
poolings (the attention's means); ``execute`` runs them with
:func:`~.stages.run_stages`, and the exact tiled runner runs the same stages
tile by tile (:mod:`jsymnet.tiling`).
"""
import jittor as jt
from jittor import nn

from .init import conv1x1, conv3x3, kaiming_, xavier_, zeros_
from .registry import register_subnet
from .stages import Stage, around, run_stages


class ChannelAttention(nn.Module):
    """m = sigmoid(conv1x1(PReLU(conv1x1(avgpool(x))))), Eq. 8-9; returns x * m."""

    def __init__(self, channels, reduction, prelu_init, scale):
        super().__init__()
        squeezed = channels // reduction
        self.conv_du = nn.Sequential(conv1x1(channels, squeezed), nn.PReLU(1, prelu_init),
                                     conv1x1(squeezed, channels))
        kaiming_(self.conv_du[0], scale)
        kaiming_(self.conv_du[2], scale)

    def weights(self, mean):
        """m of Eq. 9 from the per-channel mean of x (N x C x 1 x 1)."""
        return jt.sigmoid(self.conv_du(mean))

    def execute(self, x):
        return x * self.weights(x.mean(dims=(2, 3), keepdims=True))


class RSCA(nn.Module):
    """Residual soft channel attention, Eq. 7-9.

    x_h = conv3x3(PReLU(conv3x3(x))); out = x_h * m(x_h) + x, with m the
    channel attention (or 1 when ``attention`` is off: the "w/o attention" ablation).
    ``branch`` is the part before the attention's pooling, ``combine`` the part after.
    """

    depth = 2      # 3x3 convolutions in the branch

    def __init__(self, channels=64, hidden=128, reduction=16, attention=True,
                 prelu_init=0.2, scale=0.1):
        super().__init__()
        self.conv1 = conv3x3(channels, hidden)
        self.prelu = nn.PReLU(1, prelu_init)
        self.conv2 = conv3x3(hidden, channels)
        kaiming_(self.conv1, scale)
        kaiming_(self.conv2, scale)
        self.so = ChannelAttention(channels, reduction, prelu_init, scale) if attention else None

    def branch(self, x):
        """x_h = conv3x3(PReLU(conv3x3(x))), Eq. 7; the attention pools it."""
        return self.conv2(self.prelu(self.conv1(x)))

    def combine(self, x, x_h, mean):
        """x_h * m + x (Eq. 7-9), ``mean`` the per-channel mean of x_h (unused without
        attention)."""
        if self.so is not None:
            x_h = x_h * self.so.weights(mean)
        return x_h + x

    def pools(self):
        return self.so is not None

    def execute(self, x):
        x_h = self.branch(x)
        return self.combine(x, x_h, x_h.mean(dims=(2, 3), keepdims=True) if self.pools() else None)


class _Subnet(nn.Module):
    """Entry conv + PReLU (Eq. 10), a body, and a zero-initialised exit conv (Eq. 11).

    Subclasses give the body as stages over x_fi (:meth:`body`); the entry is
    fused into its first stage and the exit into its last.
    """

    def __init__(self, in_channels, out_channels, cfg):
        super().__init__()
        mid = cfg["mid_channels"]
        self.conv1 = conv3x3(in_channels, mid)
        self.prelu = nn.PReLU(1, cfg["prelu_init"])
        (xavier_ if cfg["entry_init"] == "xavier" else kaiming_)(self.conv1, cfg["init_scale"])
        self.conv2 = conv3x3(mid, out_channels)
        zeros_(self.conv2)

    def body(self):
        """The body x_fi -> x_out as a list of :class:`~.stages.Stage`."""
        raise NotImplementedError

    def stages(self):
        return around(self.body(), lambda x: self.prelu(self.conv1(x)), 1, self.conv2, 1)

    def execute(self, x):
        return run_stages(self.stages(), x)


def _residual_chain(units, recurrent):
    """Stages of ``units`` (each with ``branch``, ``combine``, ``pools``, ``depth``) in a row.

    recurrent=False: x_(t+1) = unit_t(x_t), from x_1 = x_fi (residual blocks).
    recurrent=True (the RRAM, Eq. 5-6): h^1 = 0; x_fo^t = unit_t(h^t + x_fi);
    h^(t+1) = h^t + x_fo^t; the result is x_fo^T.
    Stage t ends with unit t's branch output x_h, which its attention pools. What
    a stage carries to the next: (x_fi, h^t, x_h) (recurrent; no h^1) or (x_t, x_h).
    """
    def unit_input(carried):            # h^t + x_fi, or x_t
        return carried[1] + carried[0] if recurrent and len(carried) == 2 else carried[0]

    def open_(t, carried):
        x_h = units[t].branch(unit_input(carried))
        return carried + (x_h,), (x_h if units[t].pools() else None)

    def close(t, maps, mean):
        """Unit t after its pooling: (what unit t+1 is opened with, x_fo^t)."""
        carried, x_h = maps[:-1], maps[-1]
        x_fo = units[t].combine(unit_input(carried), x_h, mean)
        if not recurrent:
            return (x_fo,), x_fo
        return (carried[0], x_fo if len(carried) == 1 else carried[1] + x_fo), x_fo

    def middle(t):
        return lambda maps, mean: open_(t, close(t - 1, maps, mean)[0])

    def last(maps, mean):
        return (close(len(units) - 1, maps, mean)[1],), None

    return ([Stage(lambda maps, _: open_(0, (maps[0],)), units[0].depth)]
            + [Stage(middle(t), units[t].depth) for t in range(1, len(units))]
            + [Stage(last, 0)])


@register_subnet("rram")
class RRAM(_Subnet):
    """Recurrent residual-attention module, Eq. 5-6 and 10-11.

    h^1 = 0; x_fo^t = RSCA_t(h^t + x_fi); h^(t+1) = h^t + x_fo^t, t = 1..T.
    ``share_weights``: one RSCA for every round (paper, no extra parameters)
    stored as ``res``; otherwise one per round as ``res1..resT`` (release).
    """

    def __init__(self, in_channels, out_channels, cfg):
        super().__init__(in_channels, out_channels, cfg)
        self.rounds = cfg["rounds"]
        self.share_weights = cfg["share_weights"]

        def make():
            return RSCA(cfg["mid_channels"], cfg["hidden_channels"], cfg["reduction"],
                        cfg["attention"], cfg["prelu_init"], cfg["init_scale"])
        if self.share_weights:
            self.res = make()
        else:
            for t in range(1, self.rounds + 1):
                setattr(self, f"res{t}", make())

    def rsca(self, t):
        return self.res if self.share_weights else getattr(self, f"res{t}")

    def body(self):
        return _residual_chain([self.rsca(t) for t in range(1, self.rounds + 1)], True)


class ResBlock(nn.Module):
    """conv-PReLU-conv with identity skip; with ``se`` a squeeze-excitation on the branch."""

    depth = 2

    def __init__(self, cfg, se=False):
        super().__init__()
        c = cfg["mid_channels"]
        self.conv1 = conv3x3(c, c)
        self.prelu = nn.PReLU(1, cfg["prelu_init"])
        self.conv2 = conv3x3(c, c)
        kaiming_(self.conv1, cfg["init_scale"])
        kaiming_(self.conv2, cfg["init_scale"])
        self.se = None
        if se:
            squeezed = c // cfg["reduction"]
            self.se = nn.Sequential(conv1x1(c, squeezed), nn.ReLU(), conv1x1(squeezed, c))
            kaiming_(self.se[0], cfg["init_scale"])
            kaiming_(self.se[2], cfg["init_scale"])

    def branch(self, x):
        return self.conv2(self.prelu(self.conv1(x)))

    def combine(self, x, r, mean):
        """x + r, the branch r scaled by the squeeze-excitation of its mean when ``se``."""
        if self.se is not None:
            r = r * jt.sigmoid(self.se(mean))
        return x + r

    def pools(self):
        return self.se is not None

    def execute(self, x):
        r = self.branch(x)
        return self.combine(x, r, r.mean(dims=(2, 3), keepdims=True) if self.pools() else None)


@register_subnet("resblock")
class ResBlockSubnet(_Subnet):
    """Table 2 "RESBLK": ``rounds`` plain residual blocks in sequence, no recurrence."""

    se = False

    def __init__(self, in_channels, out_channels, cfg):
        super().__init__(in_channels, out_channels, cfg)
        self.blocks = nn.Sequential(*[ResBlock(cfg, se=self.se) for _ in range(cfg["rounds"])])

    def body(self):
        return _residual_chain(list(self.blocks), False)


@register_subnet("se_resblock")
class SEResBlockSubnet(ResBlockSubnet):
    """Table 2 "SE-RESBLK": residual blocks with squeeze-excitation (ReLU, no recurrence)."""

    se = True


@register_subnet("dense")
class DenseSubnet(nn.Module):
    """Table 2 "DenseNet": the five-conv dense block of IRN (LeakyReLU 0.2).

    conv_k sees the input and every earlier output; conv5 (zero-initialised)
    maps them all to ``out_channels``. No pooling: one local stage.
    """

    def __init__(self, in_channels, out_channels, cfg):
        super().__init__()
        g = cfg["growth"]
        self.convs = nn.ModuleList([conv3x3(in_channels + k * g, g) for k in range(4)])
        self.conv5 = conv3x3(in_channels + 4 * g, out_channels)
        for conv in self.convs:
            xavier_(conv, cfg["init_scale"])
        zeros_(self.conv5)

    def dense(self, x):
        feats = [x]
        for conv in self.convs:
            feats.append(nn.leaky_relu(conv(jt.concat(feats, dim=1)), 0.2))
        return self.conv5(jt.concat(feats, dim=1))

    def stages(self):
        return [Stage(lambda maps, _: ((self.dense(maps[0]),), None), len(self.convs) + 1)]

    def execute(self, x):
        return run_stages(self.stages(), x)
