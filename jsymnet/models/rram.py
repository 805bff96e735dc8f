"""Coupling subnetworks F, G, H: the RRAM (docs/design.md#rram) and its Table 2 ablations.

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

from ..config import ConfigError, Field
from . import layout
from .init import conv1x1, conv3x3, kaiming_, xavier_, zeros_
from ..registry import register_subnet
from .stages import Stage, Staged, around


# The options of ``model.subnet`` these subnets read, each declared once and shared by
# the subnets that read it (the defaults are the paper's).
ROUNDS = Field(3, low=1, high=64, doc="T, recurrent rounds of the RRAM (Eq. 5-6); blocks "
                                      "of the residual ablations")
MID = Field(64, low=1, high=4096, doc="RRAM width (entry conv 32 -> 64, Eq. 10)")
HIDDEN = Field(128, low=1, high=4096, doc="RSCA inner width (64 -> 128 -> 64, Eq. 7)")
REDUCTION = Field(16, low=1, high=4096, doc="attention squeeze ratio (64 -> 4)")
SHARE = Field(False, doc="true: one RSCA reused T times (paper); false: one per round "
                         "(release)")
ATTENTION = Field(True, doc="soft channel attention in each RSCA (Eq. 8-9)")
ENTRY_INIT = Field("xavier", choices=("xavier", "kaiming"),
                   doc="entry conv init: xavier (what the release runs) or kaiming")
INIT_SCALE = Field(0.1, types=(float,), doc="scale of the initial conv weights")
PRELU_INIT = Field(0.2, types=(float,), doc="initial PReLU slope")
GROWTH = Field(32, low=1, high=4096, doc="dense subnet growth channels")

ENTRY = {"entry_init": ENTRY_INIT, "init_scale": INIT_SCALE, "prelu_init": PRELU_INIT}


def _check_reduction(section, where):
    if section["mid_channels"] // section["reduction"] < 1:
        raise ConfigError(f"{where}: key 'model.subnet.reduction' ({section['reduction']}) "
                          f"exceeds model.subnet.mid_channels ({section['mid_channels']})")


class ChannelAttention(nn.Module):
    """m = sigmoid(conv1x1(PReLU(conv1x1(avgpool(x))))), Eq. 8-9; returns x * m."""

    def __init__(self, channels, reduction, prelu_init, scale):
        super().__init__()
        self.channels = channels
        squeezed = channels // reduction
        self.conv_du = nn.Sequential(conv1x1(channels, squeezed), nn.PReLU(1, prelu_init),
                                     conv1x1(squeezed, channels))
        kaiming_(self.conv_du[0], scale)
        kaiming_(self.conv_du[2], scale)

    def weights(self, mean):
        """m of Eq. 9 from the per-channel mean of x (``Layout.spatial_mean``)."""
        return jt.sigmoid(self.conv_du(mean))

    def run(self, x):
        """x * m(x) in the active layout."""
        return x * self.weights(layout.active().spatial_mean(x))

    def execute(self, x):
        return layout.public(self.run, x, self.channels, "the channel attention")


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
        self.channels = channels
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

    def run(self, x):
        """The whole unit at once in the active layout, :class:`ChannelAttention`
        included; the subnets run it as ``branch`` and ``combine`` (``tests/test_models.py``
        holds the two equal)."""
        x_h = self.branch(x)
        return (self.so.run(x_h) if self.so is not None else x_h) + x

    def execute(self, x):
        return layout.public(self.run, x, self.channels, "an RSCA")


class _Subnet(Staged):
    """Entry conv + PReLU (Eq. 10), a body, and a zero-initialised exit conv (Eq. 11).

    Subclasses give the body as stages over x_fi (:meth:`body`); the entry is
    fused into its first stage and the exit into its last.
    """

    def __init__(self, in_channels, out_channels, cfg):
        super().__init__()
        self.in_channels = in_channels
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


def _residual_chain(units, recurrent):
    """Stages of ``units`` (each with ``branch``, ``combine``, ``pools``, ``depth``) in a row.

    recurrent=False (residual blocks): x^(t+1) = unit_t(x^t) from x^1 = x_fi; the
    result is x^(T+1).
    recurrent=True (the RRAM, Eq. 5-6): h^1 = 0; x_fo^t = unit_t(h^t + x_fi);
    h^(t+1) = h^t + x_fo^t; the result is x_fo^T.

    A unit is cut at its attention's pooling: stage t opens unit t (its branch, whose
    output x_h is pooled) and, from t = 2 on, first closes unit t-1 with the mean it
    receives. What crosses a cut is a tuple of maps: unit t's state, then x_h. The
    state is (x_t,) for residual blocks; for the RRAM it is (x_fi,) at t = 1, where
    h^1 = 0 is not stored, and (x_fi, h^t) from t = 2 on.
    """
    T = len(units)

    def unit_input(t, state):
        """The input of unit t (from 1): h^t + x_fi (x_fi at t = 1), or x^t."""
        if recurrent and t > 1:
            x_fi, h = state
            return h + x_fi
        return state[0]

    def next_state(t, state, out):
        """The state unit t+1 starts from, given unit t's output ``out``."""
        if not recurrent:
            return (out,)
        x_fi = state[0]
        return (x_fi, out) if t == 1 else (x_fi, state[1] + out)   # h^(t+1) = h^t + x_fo^t

    def open_unit(t, state):
        x_h = units[t - 1].branch(unit_input(t, state))
        return state + (x_h,), (x_h if units[t - 1].pools() else None)

    def close_unit(t, maps, mean):
        """(state after unit t, unit t's output) from stage t's maps and x_h's mean."""
        state, x_h = maps[:-1], maps[-1]
        out = units[t - 1].combine(unit_input(t, state), x_h, mean)
        return next_state(t, state, out), out

    def first(maps, _):
        return open_unit(1, (maps[0],))

    def middle(t):
        return lambda maps, mean: open_unit(t, close_unit(t - 1, maps, mean)[0])

    def last(maps, mean):
        return (close_unit(T, maps, mean)[1],), None

    return ([Stage(first, units[0].depth)]
            + [Stage(middle(t), units[t - 1].depth) for t in range(2, T + 1)]
            + [Stage(last, 0)])


@register_subnet("rram", options=dict(rounds=ROUNDS, share_weights=SHARE, attention=ATTENTION,
                                      mid_channels=MID, hidden_channels=HIDDEN,
                                      reduction=REDUCTION, **ENTRY), check=_check_reduction)
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
        c = self.channels = cfg["mid_channels"]
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

    def run(self, x):
        """The whole block at once in the active layout; the subnet runs it as ``branch``
        and ``combine`` (``tests/test_models.py`` holds the two equal)."""
        r = self.branch(x)
        return self.combine(x, r, layout.active().spatial_mean(r) if self.pools() else None)

    def execute(self, x):
        return layout.public(self.run, x, self.channels, "a residual block")


@register_subnet("resblock", options=dict(rounds=ROUNDS, mid_channels=MID, **ENTRY))
class ResBlockSubnet(_Subnet):
    """Table 2 "RESBLK": ``rounds`` plain residual blocks in sequence, no recurrence."""

    se = False

    def __init__(self, in_channels, out_channels, cfg):
        super().__init__(in_channels, out_channels, cfg)
        self.blocks = nn.Sequential(*[ResBlock(cfg, se=self.se) for _ in range(cfg["rounds"])])

    def body(self):
        return _residual_chain(list(self.blocks), False)


@register_subnet("se_resblock", options=dict(rounds=ROUNDS, mid_channels=MID,
                                                reduction=REDUCTION, **ENTRY),
                 check=_check_reduction)
class SEResBlockSubnet(ResBlockSubnet):
    """Table 2 "SE-RESBLK": residual blocks with squeeze-excitation (ReLU, no recurrence)."""

    se = True


@register_subnet("dense", options={"growth": GROWTH, "init_scale": INIT_SCALE})
class DenseSubnet(Staged):
    """Table 2 "DenseNet": the five-conv dense block of IRN (LeakyReLU 0.2).

    conv_k sees the input and every earlier output; conv5 (zero-initialised)
    maps them all to ``out_channels``. No pooling: one local stage.
    """

    def __init__(self, in_channels, out_channels, cfg):
        super().__init__()
        g = cfg["growth"]
        self.in_channels = in_channels
        self.convs = nn.ModuleList([conv3x3(in_channels + k * g, g) for k in range(4)])
        self.conv5 = conv3x3(in_channels + 4 * g, out_channels)
        for conv in self.convs:
            xavier_(conv, cfg["init_scale"])
        zeros_(self.conv5)

    def dense(self, x):
        lay, feats = layout.active(), [x]
        for conv in self.convs:
            feats.append(nn.leaky_relu(conv(lay.concat(feats)), 0.2))
        return self.conv5(lay.concat(feats))

    def stages(self):
        return [Stage(lambda maps, _: ((self.dense(maps[0]),), None), len(self.convs) + 1)]
