"""Channels-last and N x C x H x W features give the same network.

On the CPU with oneDNN the network keeps its features N x H x W x C and calls oneDNN's
convolutions on them directly (``jsymnet.models.layout``); elsewhere it runs Jittor's
N x C x H x W convolution. The oracle here is the other layout: the same weights and
inputs through both must give the same images, the same gradients (ordinary and
reversible backward) and the same tiles, to float32 rounding.
"""
import jsymnet
import jittor as jt
import numpy as np
import pytest
from jittor import nn

from conftest import ROOT, randomize, tiny_config
from jsymnet.config import load_config
from jsymnet.engine.reversible import reversible_grads
from jsymnet.inference import load_weights
from jsymnet.losses import bidirectional_loss
from jsymnet.models import layout
from jsymnet.tiling import TiledRunner

pytestmark = pytest.mark.skipif(not jsymnet.runtime_info()["onednn"],
                                reason="the channels-last layout needs oneDNN (pip install -e . "
                                       "installs it on Linux x86_64)")


def both(fn):
    """fn() in each layout, as NumPy."""
    out = {}
    for name in ("nchw", "nhwc"):
        with layout.use_layout(name):
            res = fn()
            out[name] = [r.numpy() if hasattr(r, "numpy") else r for r in res]
    return out["nchw"], out["nhwc"]


def rel(a, b):
    return float(np.abs(a - b).max() / max(np.abs(a).max(), 1e-12))


def test_auto_is_channels_last_on_the_cpu_with_onednn(monkeypatch):
    monkeypatch.delenv(layout.LAYOUT_ENV, raising=False)
    assert layout.active() is layout.NHWC
    monkeypatch.setenv(layout.LAYOUT_ENV, "nchw")
    assert layout.active() is layout.NCHW
    monkeypatch.setenv(layout.LAYOUT_ENV, "channels_first")
    with pytest.raises(layout.LayoutError, match="auto, nchw or nhwc"):
        layout.active()


def test_channels_last_convolution_gradients_equal_jittors():
    """The trap: jt.grad through Jittor's mkl_conv alone gives zeros. The
    layout's convolutions carry their own backward; it must equal nn.conv2d's."""
    rng = np.random.RandomState(0)
    x, w = rng.randn(2, 8, 11, 9).astype(np.float32), rng.randn(16, 8, 3, 3).astype(np.float32)
    r = rng.randn(2, 16, 11, 9).astype(np.float32)
    xv, wv = jt.array(x), jt.array(w)
    ref = jt.grad((nn.conv2d(xv, wv, padding=1) * jt.array(r)).sum(), [xv, wv])
    lay = layout.NHWC
    y = lay.conv(lay.to_internal(xv), wv, padding=1)
    ours = jt.grad((y * lay.to_internal(jt.array(r))).sum(), [xv, wv])
    for a, b in zip(ref, ours):
        assert np.abs(a.numpy()).max() > 1.0
        assert rel(a.numpy(), b.numpy()) < 1e-5
    # the transposed convolution (the VGG decoder), input gradient
    f = rng.randn(1, 16, 7, 6).astype(np.float32)
    g = rng.randn(1, 8, 7, 6).astype(np.float32)
    fv = jt.array(f)
    (ref,) = jt.grad((nn.conv_transpose2d(fv, wv, padding=1) * jt.array(g)).sum(), [fv])
    y = lay.conv_transpose(lay.to_internal(fv), wv, padding=1)
    (ours,) = jt.grad((y * lay.to_internal(jt.array(g))).sum(), [fv])
    assert rel(ref.numpy(), ours.numpy()) < 1e-5


@pytest.mark.parametrize("which", ["default", "release"])
def test_both_layouts_enhance_degrade_and_tile_alike(which):
    if which == "default":
        model = load_weights(None)[0]                      # the shipped default model
        size, tile = (1, 3, 40, 56), 16
    else:
        model = randomize(jsymnet.build_model(None, codec={"weights": None}), scale=0.05)
        size, tile = (1, 3, 20, 28), 12
    model.eval()
    x = jt.array(np.random.RandomState(1).rand(*size).astype(np.float32))
    image = x.numpy()[0].transpose(1, 2, 0)

    def run():
        with jt.no_grad():
            return (model.enhance(x), model.degrade(x),
                    TiledRunner(model, tile=tile).run(image))
    nchw, nhwc = both(run)
    for a, b in zip(nchw[:2], nhwc[:2]):
        assert rel(a, b) < 1e-5
    assert rel(nchw[0][0].transpose(1, 2, 0), nhwc[2]) < 1e-5    # tiled NHWC = untiled NCHW
    assert rel(nchw[2], nhwc[2]) < 1e-5


@pytest.mark.parametrize("backward", ["ordinary", "reversible"])
def test_both_layouts_train_alike(backward):
    cfg = load_config(tiny_config(reduction=2))
    model = randomize(jsymnet.build_model(cfg))
    params = model.trainable_parameters()
    rng = np.random.RandomState(2)
    x_lq = jt.array(rng.rand(2, 3, 16, 16).astype(np.float32) * 0.3)
    x_hq = jt.array(rng.rand(2, 3, 16, 16).astype(np.float32))
    loss_cfg = cfg["train"]["loss"]

    def grads():
        if backward == "ordinary":
            loss, _ = bidirectional_loss(model, x_lq, x_hq, loss_cfg)
            return jt.grad(loss, params)
        by_id, _ = reversible_grads(model, x_lq, x_hq, loss_cfg)
        return [by_id[id(p)] for p in params]
    nchw, nhwc = both(grads)
    scale = max(float(np.abs(g).max()) for g in nchw)
    assert scale > 1e-3
    assert max(float(np.abs(a - b).max()) for a, b in zip(nchw, nhwc)) < 1e-4 * scale


def test_no_module_reads_channels_by_position():
    """The layout lives in jsymnet/models/layout.py alone: the modules that run on
    features never index, concatenate or pool channels by a fixed axis."""
    import re
    feature_code = ["models/codec.py", "models/rram.py", "models/ift.py", "models/stages.py",
                    "models/dsn.py", "engine/reversible.py", "tiling.py"]
    pattern = re.compile(r"dim=1\b|dims=\(2, ?3\)|\[:, \w*:\w*\]|nn\.conv2d|nn\.conv_transpose2d")
    for rel_path in feature_code:
        text = (ROOT / "jsymnet" / rel_path).read_text()
        assert not pattern.findall(text), (rel_path, pattern.findall(text))


def test_every_public_module_takes_nchw_features_in_both_layouts():
    """The public API keeps its shapes whatever the layout inside: the same N x C x H x W
    features through the encoder, the IFT (both directions), a block, a subnet and the
    decoder give the same N x C x H x W results under nchw and nhwc, to float32 rounding,
    and a feature map of the wrong shape is our error, naming the shape expected."""
    model = randomize(jsymnet.build_model(None, codec={"weights": None}), scale=0.05)
    rng = np.random.RandomState(3)
    x = jt.array(rng.rand(1, 3, 12, 16).astype(np.float32))
    f = jt.array(rng.randn(1, 64, 12, 16).astype(np.float32))
    block = model.ift.blocks[0]

    def run():
        with jt.no_grad():
            return (model.encoder(x), model.ift(f), model.ift(f, reverse=True),
                    block(f), block.F(f[:, 32:]), model.decoder(f),
                    model.ift(model.ift(f), reverse=True))
    nchw, nhwc = both(run)
    assert [a.shape for a in nhwc] == [a.shape for a in nchw] == [
        (1, 64, 12, 16)] * 4 + [(1, 32, 12, 16), (1, 3, 12, 16), (1, 64, 12, 16)]
    for a, b in zip(nchw, nhwc):
        assert rel(a, b) < 1e-5
    assert rel(nhwc[1], f.numpy()) > 1e-2                        # the IFT moved them
    assert float(np.abs(nhwc[6] - f.numpy()).max()) < 2e-6 * float(np.abs(f.numpy()).max())
    for name in ("nchw", "nhwc"):
        with layout.use_layout(name):
            with pytest.raises(layout.FeatureShapeError,
                               match=r"the IFT takes N x 64 x H x W features, got shape "
                                     r"\(1, 12, 16, 64\); it looks channels-last"):
                model.ift(f.transpose(0, 2, 3, 1))
            with pytest.raises(layout.FeatureShapeError, match="N x 32 x H x W"):
                block.F(f)
            with pytest.raises(jsymnet.JsymnetError, match="N x 64 x H x W"):
                model.decoder(x)
