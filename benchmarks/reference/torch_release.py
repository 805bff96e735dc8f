"""The authors' release generator in PyTorch: the reference jsymnet is measured against.

Written from docs/design.md (not copied from the release). Its
state dict has the release's keys and shapes (964 tensors including the unused
``soca.*``, ``operations.0..9``; 11,573,568 trainable parameters); its forward
pass is the release's degradation, ``net(x, rev=True)`` its enhancement.
``tests/test_convert_parity.py`` checks that a converted copy of it and
jsymnet agree, and ``benchlib.harness`` (benchmarks/benchmark.py) times the two side
by side.

torch is an optional dependency: import this module only in a process that
does not run Jittor (the two runtimes crash each other, see jsymnet/runtime.py).
"""
import math

import torch
from torch import nn
from torch.nn import functional as F

NUM_BLOCKS = 8
CHANNELS = 64
SPLIT = 32
ROUNDS = 3


def conv(cin, cout, k):
    return nn.Conv2d(cin, cout, k, padding=k // 2, bias=True)


class SoftAttention(nn.Module):
    """m = sigmoid(conv1x1(PReLU(conv1x1(avgpool(x))))); returns x * m
    (docs/design.md#rram, Eq. 8-9)."""

    def __init__(self, channels=64, reduction=16):
        super().__init__()
        self.conv_du = nn.Sequential(conv(channels, channels // reduction, 1),
                                     nn.PReLU(1, 0.2),
                                     conv(channels // reduction, channels, 1))

    def forward(self, x):
        return x * torch.sigmoid(self.conv_du(x.mean(dim=(2, 3), keepdim=True)))


class RSCA(nn.Module):
    """x_h = conv3x3(PReLU(conv3x3(x))); out = x_h * m(x_h) + x (Eq. 7-9)."""

    def __init__(self, channels=64, hidden=128):
        super().__init__()
        self.conv1 = conv(channels, hidden, 3)
        self.prelu = nn.PReLU(1, 0.2)
        self.conv2 = conv(hidden, channels, 3)
        self.so = SoftAttention(channels)

    def forward(self, x):
        return self.so(self.conv2(self.prelu(self.conv1(x)))) + x


class RRAM(nn.Module):
    """Entry conv + PReLU, T = 3 recurrent rounds of separate RSCAs, exit conv (Eq. 5-11).

    ``soca`` is the release's leftover attention block: in the state dict,
    never run.
    """

    def __init__(self, cin=32, cout=32, mid=64):
        super().__init__()
        self.conv1 = conv(cin, mid, 3)
        self.prelu = nn.PReLU(1, 0.2)
        self.res1 = RSCA(mid)
        self.res2 = RSCA(mid)
        self.res3 = RSCA(mid)
        self.conv2 = conv(mid, cout, 3)
        self.soca = SoftAttention(mid)

    def forward(self, x):
        x_fi = self.prelu(self.conv1(x))
        h = None
        for res in (self.res1, self.res2, self.res3):
            x_fo = res(x_fi if h is None else h + x_fi)
            h = x_fo if h is None else h + x_fo
        return self.conv2(x_fo)


class InvBlock(nn.Module):
    """Affine coupling, clamp 1 (docs/design.md#ift). Forward = degrade; rev = enhance."""

    def __init__(self, channels=CHANNELS, split=SPLIT, clamp=1.0):
        super().__init__()
        self.split, self.clamp = split, clamp
        self.F = RRAM(channels - split, split)
        self.G = RRAM(split, channels - split)
        self.H = RRAM(split, channels - split)

    def forward(self, x, rev=False):
        x1, x2 = x[:, :self.split], x[:, self.split:]
        if not rev:
            y1 = x1 + self.F(x2)
            s = self.clamp * (2 * torch.sigmoid(self.H(y1)) - 1)
            y2 = x2 * torch.exp(s) + self.G(y1)
        else:
            s = self.clamp * (2 * torch.sigmoid(self.H(x1)) - 1)
            y2 = (x2 - self.G(x1)) * torch.exp(-s)
            y1 = x1 - self.F(y2)
        return torch.cat([y1, y2], 1)


class Codec(nn.Module):
    """The frozen VGG conv1_1 / conv1_2 pair, named as in the release (``haar_weights1/2``).

    ``encodes_forward``: True for operations.0 (the release's ``Downsampling``,
    which encodes in the forward pass and decodes in the reverse one), False
    for operations.9 (``Upsampling``, the other way round).
    """

    def __init__(self, w1, w2, encodes_forward):
        super().__init__()
        self.haar_weights1 = w1
        self.haar_weights2 = w2
        self.encodes_forward = encodes_forward

    def encode(self, x):
        return F.conv2d(F.conv2d(x, self.haar_weights1, padding=1), self.haar_weights2, padding=1)

    def decode(self, f):
        return F.conv_transpose2d(F.conv_transpose2d(f, self.haar_weights2, padding=1),
                                  self.haar_weights1, padding=1)

    def forward(self, x, rev=False):
        return self.encode(x) if rev != self.encodes_forward else self.decode(x)


class ReleaseNet(nn.Module):
    """operations = [codec, 8 invertible blocks, codec]; forward degrades, rev enhances."""

    def __init__(self, num_blocks=NUM_BLOCKS):
        super().__init__()
        w1 = nn.Parameter(torch.zeros(CHANNELS, 3, 3, 3), requires_grad=False)
        w2 = nn.Parameter(torch.zeros(CHANNELS, CHANNELS, 3, 3), requires_grad=False)
        ops = [Codec(w1, w2, True)] + [InvBlock() for _ in range(num_blocks)]
        ops.append(Codec(w1, w2, False))  # the same tensors, as in the release
        self.operations = nn.ModuleList(ops)

    def forward(self, x, rev=False):
        for op in (reversed(self.operations) if rev else self.operations):
            x = op(x, rev)
        return x


def randomise(net, seed=0, std=0.02, codec_gain=0.4):
    """Seeded random values for EVERY tensor (exit convs included), small enough to stay sane.

    Codec: N(0, codec_gain * sqrt(2 / fan_in)), so that D(E(x)) keeps the
    image's scale; convs: N(0, std); biases: N(0, 0.01); PReLU slopes:
    0.2 + N(0, 0.05). With the defaults each block changes its input by about
    half its size and the outputs stay of order 1 (max about 4), so an absolute
    tolerance of 1e-4 is meaningful and the test is far from the identity.
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in net.named_parameters(remove_duplicate=True):
            if name.endswith("haar_weights1") or name.endswith("haar_weights2"):
                fan_in = p.shape[1] * p.shape[2] * p.shape[3]
                scale = codec_gain * math.sqrt(2.0 / fan_in)
                p.copy_(torch.randn(p.shape, generator=gen) * scale)
            elif p.ndim == 4:
                p.copy_(torch.randn(p.shape, generator=gen) * std)
            elif name.endswith("prelu.weight") or name.endswith("conv_du.1.weight"):
                p.copy_(0.2 + 0.05 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.01)
    return net


def release_init(net, seed=0, codec_gain=0.4):
    """The release's initialisation (docs/design.md#init), as training starts from it: in
    every RRAM the entry conv xavier-normal x 0.1, the RSCA convs (3x3 and the 1x1
    attention convs) kaiming-normal (fan_in) x 0.1, the exit conv zero, every bias zero, every PReLU 0.2.
    The frozen codec gets random values as in :func:`randomise` (no ImageNet file here).
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in net.named_parameters(remove_duplicate=True):
            fan_in = p[0].numel() if p.ndim > 1 else 1
            if name.endswith("haar_weights1") or name.endswith("haar_weights2"):
                p.copy_(torch.randn(p.shape, generator=gen) * codec_gain
                        * math.sqrt(2.0 / fan_in))
            elif name.endswith("prelu.weight") or name.endswith("conv_du.1.weight"):
                p.fill_(0.2)
            elif p.ndim == 1:
                p.zero_()
            elif ".conv2.weight" in name and ".res" not in name:  # the RRAM's exit conv
                p.zero_()
            elif name.endswith(".conv1.weight") and ".res" not in name:  # its entry conv
                fan_out = p.shape[0] * p[0, 0].numel()
                std = math.sqrt(2.0 / (fan_in + fan_out))
                p.copy_(torch.randn(p.shape, generator=gen) * std * 0.1)
            else:
                p.copy_(torch.randn(p.shape, generator=gen) * math.sqrt(2.0 / fan_in) * 0.1)
    return net


def counts(net):
    sd = net.state_dict()
    trainable = sum(p.numel() for p in net.parameters() if p.requires_grad)
    soca = sum(v.numel() for k, v in sd.items() if ".soca." in k)
    return {"tensors": len(sd), "trainable_params": int(trainable), "soca_params": int(soca),
            "soca_tensors": sum(1 for k in sd if ".soca." in k)}


def quantize(x):
    """Q of docs/design.md#loss: clamp to [0, 1], round to 1/255 steps, straight-through
    gradient."""
    x = x.clamp(0.0, 1.0)
    return x + (torch.round(x * 255.0) / 255.0 - x).detach()


def bidirectional_loss(net, x_lq, x_hq):
    """Eq. 12 with the release's choices: per-image summed squared error, mean over the
    batch, lambda_H = lambda_L = 1, the degrade target quantised."""
    def l2(pred, target):
        return (pred - target).pow(2).flatten(1).sum(1).mean()
    return l2(net(x_lq, rev=True), x_hq) + l2(net(quantize(x_hq)), x_lq)


def make_optimizer(net, lr=2e-4, betas=(0.9, 0.999), weight_decay=1e-5):
    """Adam as in docs/design.md#training, over the trainable tensors (the frozen codec is
    left out)."""
    return torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=lr,
                            betas=betas, weight_decay=weight_decay)


def train_step(net, opt, x_lq, x_hq, grad_clip=10.0, accum=1):
    """One step of docs/design.md#training (loss, backward, clip, Adam), the batch split into
    ``accum`` equal parts whose gradients are accumulated: the same gradient in less memory.
    Returns the loss as a float."""
    opt.zero_grad(set_to_none=True)
    total = 0.0
    for lq, hq in zip(x_lq.chunk(accum), x_hq.chunk(accum)):
        loss = bidirectional_loss(net, lq, hq) * (lq.shape[0] / x_lq.shape[0])
        loss.backward()
        total += float(loss)
    if grad_clip:
        torch.nn.utils.clip_grad_norm_(net.parameters(), grad_clip)
    opt.step()
    return total
