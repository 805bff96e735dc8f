"""Coupling subnetworks F, G, H: the RRAM of SPEC section 4 and its Table 2 ablations.

Every subnet maps ``in_channels`` to ``out_channels`` at the same H x W and
starts as the zero function (exit conv zero-initialised), so each coupling
block of a freshly built network is the identity.
"""
import jittor as jt
from jittor import nn

from .init import conv1x1, conv3x3, kaiming_, xavier_, zeros_
from .registry import register_subnet


class ChannelAttention(nn.Module):
    """m = sigmoid(conv1x1(PReLU(conv1x1(avgpool(x))))), Eq. 8-9; returns x * m."""

    def __init__(self, channels, reduction, prelu_init, scale):
        super().__init__()
        squeezed = channels // reduction
        self.conv_du = nn.Sequential(conv1x1(channels, squeezed), nn.PReLU(1, prelu_init),
                                     conv1x1(squeezed, channels))
        kaiming_(self.conv_du[0], scale)
        kaiming_(self.conv_du[2], scale)

    def execute(self, x):
        return x * jt.sigmoid(self.conv_du(x.mean(dims=(2, 3), keepdims=True)))


class RSCA(nn.Module):
    """Residual soft channel attention, Eq. 7-9.

    x_h = conv3x3(PReLU(conv3x3(x))); out = x_h * m(x_h) + x, with m the
    channel attention (or 1 when ``attention`` is off: the "w/o attention" ablation).
    """

    def __init__(self, channels=64, hidden=128, reduction=16, attention=True,
                 prelu_init=0.2, scale=0.1):
        super().__init__()
        self.conv1 = conv3x3(channels, hidden)
        self.prelu = nn.PReLU(1, prelu_init)
        self.conv2 = conv3x3(hidden, channels)
        kaiming_(self.conv1, scale)
        kaiming_(self.conv2, scale)
        self.so = ChannelAttention(channels, reduction, prelu_init, scale) if attention else None

    def execute(self, x):
        x_h = self.conv2(self.prelu(self.conv1(x)))
        if self.so is not None:
            x_h = self.so(x_h)
        return x_h + x


class _Subnet(nn.Module):
    """Entry conv + PReLU (Eq. 10), a body, and a zero-initialised exit conv (Eq. 11)."""

    def __init__(self, in_channels, out_channels, cfg):
        super().__init__()
        mid = cfg["mid_channels"]
        self.conv1 = conv3x3(in_channels, mid)
        self.prelu = nn.PReLU(1, cfg["prelu_init"])
        (xavier_ if cfg["entry_init"] == "xavier" else kaiming_)(self.conv1, cfg["init_scale"])
        self.conv2 = conv3x3(mid, out_channels)
        zeros_(self.conv2)

    def body(self, x_fi):
        raise NotImplementedError

    def execute(self, x):
        return self.conv2(self.body(self.prelu(self.conv1(x))))


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

    def body(self, x_fi):
        h = None
        for t in range(1, self.rounds + 1):
            x_fo = self.rsca(t)(x_fi if h is None else h + x_fi)
            h = x_fo if h is None else h + x_fo
        return x_fo


class ResBlock(nn.Module):
    """conv-PReLU-conv with identity skip; with ``se`` a squeeze-excitation on the branch."""

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

    def execute(self, x):
        r = self.conv2(self.prelu(self.conv1(x)))
        if self.se is not None:
            r = r * jt.sigmoid(self.se(r.mean(dims=(2, 3), keepdims=True)))
        return x + r


@register_subnet("resblock")
class ResBlockSubnet(_Subnet):
    """Table 2 "RESBLK": ``rounds`` plain residual blocks in sequence, no recurrence."""

    se = False

    def __init__(self, in_channels, out_channels, cfg):
        super().__init__(in_channels, out_channels, cfg)
        self.blocks = nn.Sequential(*[ResBlock(cfg, se=self.se) for _ in range(cfg["rounds"])])

    def body(self, x_fi):
        return self.blocks(x_fi)


@register_subnet("se_resblock")
class SEResBlockSubnet(ResBlockSubnet):
    """Table 2 "SE-RESBLK": residual blocks with squeeze-excitation (ReLU, no recurrence)."""

    se = True


@register_subnet("dense")
class DenseSubnet(nn.Module):
    """Table 2 "DenseNet": the five-conv dense block of IRN (LeakyReLU 0.2).

    conv_k sees the input and every earlier output; conv5 (zero-initialised)
    maps them all to ``out_channels``.
    """

    def __init__(self, in_channels, out_channels, cfg):
        super().__init__()
        g = cfg["growth"]
        self.convs = nn.ModuleList([conv3x3(in_channels + k * g, g) for k in range(4)])
        self.conv5 = conv3x3(in_channels + 4 * g, out_channels)
        for conv in self.convs:
            xavier_(conv, cfg["init_scale"])
        zeros_(self.conv5)

    def execute(self, x):
        feats = [x]
        for conv in self.convs:
            feats.append(nn.leaky_relu(conv(jt.concat(feats, dim=1)), 0.2))
        return self.conv5(jt.concat(feats, dim=1))
