"""Weight initialisation (docs/design.md#init; the release's ``initialize_weights``)."""
import math

import jittor as jt

from .stages import Conv


def _fans(weight):
    receptive = weight.shape[2] * weight.shape[3]
    return weight.shape[1] * receptive, weight.shape[0] * receptive


def kaiming_(conv, scale):
    """Kaiming-normal, fan_in, gain sqrt(2), times ``scale``; bias zero."""
    fan_in, _ = _fans(conv.weight)
    conv.weight.assign(jt.randn(conv.weight.shape) * (math.sqrt(2.0 / fan_in) * scale))
    if conv.bias is not None:
        conv.bias.assign(jt.zeros(conv.bias.shape))


def xavier_(conv, scale):
    """Xavier-normal (gain 1), times ``scale``; bias zero."""
    fan_in, fan_out = _fans(conv.weight)
    conv.weight.assign(jt.randn(conv.weight.shape) * (math.sqrt(2.0 / (fan_in + fan_out)) * scale))
    if conv.bias is not None:
        conv.bias.assign(jt.zeros(conv.bias.shape))


def zeros_(conv):
    conv.weight.assign(jt.zeros(conv.weight.shape))
    if conv.bias is not None:
        conv.bias.assign(jt.zeros(conv.bias.shape))


def conv3x3(cin, cout):
    """3x3, zero padding 1, with bias (a :class:`~.stages.Conv`: exact on tiles too)."""
    return Conv(cin, cout, 3, padding=1, bias=True)


def conv1x1(cin, cout):
    return Conv(cin, cout, 1, padding=0, bias=True)
