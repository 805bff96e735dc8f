"""The network against docs/design.md (data flow to RRAM): invertibility, equations, shapes,
counts, gradients.

Every module takes and returns N x C x H x W, whatever the active layout; a module's
``run`` (what the network calls inside) takes maps in the active layout (channels-last on
the CPU with oneDNN): ``feat`` converts N x C x H x W data in, ``public`` converts back.
"""
import jsymnet  # noqa: F401
import jittor as jt
import numpy as np
import pytest

from conftest import feat, max_diff, numpy_state, public, randomize, tiny_config
from jsymnet.config import load_config
from jsymnet.losses import bidirectional_loss, block_pattern, l2, loss_function
from jsymnet.models import IFT, RRAM, HaarCodec, InvertibleBlock
from jsymnet.models.codec import band_rotation
import numpy_reference as ref

RELEASE = load_config({})["model"]["subnet"]          # the release RRAM (docs/design.md#rram)
SHARED = dict(RELEASE, share_weights=True)              # the paper's RRAM
TINY_SUB = load_config(tiny_config())["model"]["subnet"]


@pytest.mark.parametrize("subnet", [RELEASE, SHARED], ids=["release", "paper_shared"])
def test_ift_round_trip_on_random_features(subnet):
    ift = randomize(IFT(64, 8, 32, 1.0, "rram", subnet))
    f = jt.randn(1, 64, 8, 8)
    enhanced = ift(f)
    assert max_diff(enhanced, f) > 0.5, "randomised IFT should move features far"
    assert max_diff(ift(enhanced, reverse=True), f) < 1e-5
    assert max_diff(ift(ift(f, reverse=True)), f) < 1e-5


@pytest.mark.parametrize("kind", ["rram_no_attention", "rram_1_round", "resblock",
                                  "se_resblock", "dense"])
def test_ablation_subnets_stay_invertible(kind):
    over = dict(rounds=1 if kind == "rram_1_round" else 3,
                type=kind if not kind.startswith("rram") else "rram")
    if kind.startswith("rram"):
        over["attention"] = kind != "rram_no_attention"
    sub = load_config(tiny_config(**over))["model"]["subnet"]   # the chosen part's keys
    ift = randomize(IFT(16, 2, 8, 1.0, sub["type"], sub))
    f = jt.randn(1, 16, 8, 8)
    assert max_diff(ift(f), f) > 1e-3
    assert max_diff(ift(ift(f), reverse=True), f) < 1e-5


def test_coupling_matches_spec_formulas():
    """docs/design.md#ift on a tiny tensor: degrade and enhance, with F, G, H as black boxes."""
    clamp = 0.7
    block = randomize(InvertibleBlock(8, 3, clamp, "rram", TINY_SUB))
    data = np.random.RandomState(0).randn(1, 8, 5, 5).astype(np.float32)
    x, x1, x2 = jt.array(data), jt.array(data[:, :3]), jt.array(data[:, 3:])
    n = lambda v: v.numpy().astype(np.float64)  # noqa: E731
    back = lambda a: jt.array(a.astype(np.float32))  # noqa: E731
    sig = ref.sigmoid

    y1 = n(x1) + n(block.F(x2))
    s = clamp * (2 * sig(n(block.H(back(y1)))) - 1)
    y2 = n(x2) * np.exp(s) + n(block.G(back(y1)))
    assert max_diff(block(x, reverse=True), np.concatenate([y1, y2], 1)) < 1e-5

    s = clamp * (2 * sig(n(block.H(x1))) - 1)
    e2 = (n(x2) - n(block.G(x1))) * np.exp(-s)
    e1 = n(x1) - n(block.F(back(e2)))
    assert max_diff(block(x), np.concatenate([e1, e2], 1)) < 1e-5
    # the network's own calls (run, in the active layout) are the same computation
    assert max_diff(public(block.run(feat(data))), block(x)) == 0.0
    assert max_diff(public(block.run(feat(data), reverse=True)), block(x, reverse=True)) == 0.0


@pytest.mark.parametrize("shared", [False, True], ids=["release", "paper_shared"])
@pytest.mark.parametrize("attention", [True, False], ids=["attention", "no_attention"])
def test_rram_matches_equations_5_to_11(shared, attention):
    cfg = dict(TINY_SUB, share_weights=shared, attention=attention, mid_channels=8,
               hidden_channels=12, reduction=4)
    net = randomize(RRAM(3, 5, cfg), scale=1.0)
    x = jt.randn(1, 3, 5, 5)
    expected = ref.rram(x.numpy()[0].astype(np.float64), numpy_state(net, np.float64), 3, shared, attention)
    assert np.abs(expected).max() > 1e-2
    assert max_diff(net(x).numpy()[0], expected) < 1e-4


@pytest.mark.parametrize("kind", ["rram", "resblock", "se_resblock"])
def test_standalone_units_compose_to_the_staged_subnet(kind):
    """RSCA.run (with ChannelAttention.run) and ResBlock.run, chained by hand as
    Eq. 5-6 (RRAM) or in a row (residual blocks), equal the subnet's stages."""
    from jsymnet.registry import SUBNETS
    cfg = load_config(tiny_config(type=kind, rounds=3))["model"]["subnet"]
    net = randomize(SUBNETS.get(kind)(6, 5, cfg), scale=1.0)
    data = jt.randn(1, 6, 9, 11)
    x_fi = net.prelu(net.conv1(feat(data)))
    if kind == "rram":
        h = None                                       # h^1 = 0
        for t in range(1, 4):
            x_fo = net.rsca(t).run(x_fi if h is None else h + x_fi)
            h = x_fo if h is None else h + x_fo        # h^(t+1) = h^t + x_fo^t
    else:
        x_fo = x_fi
        for block in net.blocks:
            x_fo = block.run(x_fo)
    oracle = public(net.conv2(x_fo))
    assert float(np.abs(oracle).max()) > 1e-2
    assert max_diff(net(data), oracle) < 1e-5


def test_fresh_network_couplings_are_identity():
    """docs/design.md#init: exit convs are zero, so enhance(x) = D(E(x)) and
    degrade(y) = D(E(y))."""
    model = jsymnet.build_model(tiny_config())
    x = jt.rand(1, 3, 37, 53)
    f = jt.array(model.encoder(x).numpy())
    # the identity to float32 rounding (Jittor's sigmoid(0) can be 0.5 + 1 ulp, so s ~ 6e-8)
    assert max_diff(model.ift(f), f) <= 1e-6 * float(np.abs(f.numpy()).max())
    assert max_diff(model.ift(f, reverse=True), f) <= 1e-6 * float(np.abs(f.numpy()).max())
    codec_only = model.decoder(model.encoder(x))
    scale = float(np.abs(codec_only.numpy()).max())
    assert max_diff(model.enhance(x), codec_only) <= 1e-6 * scale
    assert max_diff(model.degrade(x), codec_only) <= 1e-6 * scale
    for name, p in model.named_parameters():
        if name.endswith("prelu.weight") or name.endswith("conv_du.1.weight"):
            assert np.allclose(p.numpy(), 0.2), name
        if ".F.conv2." in name or ".G.conv2." in name or ".H.conv2." in name:
            assert not p.numpy().any(), f"{name} should start at zero"


def test_release_model_keeps_odd_shapes_and_batches():
    model = randomize(jsymnet.build_model(None, codec={"weights": None}))
    x = jt.rand(2, 3, 37, 53)
    for out in (model.enhance(x), model.degrade(x), model(x)):
        assert out.shape == [2, 3, 37, 53]
        assert np.isfinite(out.numpy()).all()
    assert max_diff(model(x), model.enhance(x)) == 0.0


def test_haar_codec_is_exact_inverse_and_pads_odd_sizes():
    codec = HaarCodec(levels=2)
    x = jt.rand(1, 3, 8, 12)
    f = codec.encode(x)
    assert f.shape == [1, 48, 2, 3]
    assert max_diff(codec.decode(f), x) < 1e-6
    model = jsymnet.build_model({"model": {"codec": {"type": "haar"}, "ift": {"num_blocks": 2},
                                           "subnet": {"mid_channels": 16, "hidden_channels": 32,
                                                      "reduction": 4}}})
    randomize(model)
    assert model.enhance(jt.rand(1, 3, 37, 53)).shape == [1, 3, 37, 53]
    # With the Haar codec the whole network is invertible: degrade undoes enhance
    # (at an even size; an odd one is padded, and the padding is cropped away).
    x = jt.rand(1, 3, 16, 16)
    out = model.enhance(x)
    assert max_diff(out, x) > 1e-2
    assert max_diff(model.degrade(out), x) < 1e-4


def test_haar_band_rotation_is_an_exact_orthogonal_mix_of_every_band():
    plain, mixed = HaarCodec(levels=2), HaarCodec(levels=2, mix=True)
    q = band_rotation(48)
    assert np.abs(q @ q.T - np.eye(48)).max() < 1e-5                 # orthogonal
    assert np.array_equal(q, band_rotation(48))                      # fixed, not drawn per run
    x = jt.rand(2, 3, 8, 12)
    bands = plain.encode(x).numpy()
    f = mixed.encode(x)
    # NumPy oracle: the rotation applied to the plain bands, pixel by pixel.
    assert np.abs(f.numpy() - np.einsum("oc,nchw->nohw", q, bands)).max() < 1e-5
    assert max_diff(mixed.decode(f), x) < 1e-5                        # still exactly invertible
    # A flat grey image: unmixed, only the three band means (first IFT half) respond;
    # mixed, the second half carries as much of it as the first.
    flat = plain.encode(jt.full((1, 3, 4, 4), 0.5)).numpy()[0, :, 0, 0]
    assert np.abs(flat[24:]).max() == 0.0
    spread = mixed.encode(jt.full((1, 3, 4, 4), 0.5)).numpy()[0, :, 0, 0]
    assert np.linalg.norm(spread[24:]) > 0.5 * np.linalg.norm(spread[:24])
    # The rotation is a function of the channel count: no weight, nothing in a checkpoint.
    assert list(mixed.state_dict()) == list(plain.state_dict()) == []
    model = randomize(jsymnet.build_model(
        {"model": {"codec": {"type": "haar", "haar_levels": 2, "haar_mix": True},
                   "ift": {"num_blocks": 2}, "subnet": {"mid_channels": 16,
                                                        "hidden_channels": 16,
                                                        "reduction": 4}}}))
    x = jt.rand(1, 3, 16, 16)
    out = model.enhance(x)
    assert max_diff(out, x) > 1e-2
    assert max_diff(model.degrade(out), x) < 1e-4


def test_psnr_loss_is_minus_the_psnr_capped_at_psnr_max_db():
    cfg = dict(load_config({})["train"]["loss"], type="psnr", psnr_max_db=40.0)
    fn = loss_function(cfg)
    target = jt.rand(2, 3, 8, 8)
    # Error 0.1 on every value of image 0, none on image 1: -10 log10(0.01 + 1e-4) and -40.
    pred = target + jt.array(np.array([0.1, 0.0], np.float32)).reshape(2, 1, 1, 1)
    expected = np.mean([10 * np.log10(0.01 + 1e-4), -40.0])
    assert abs(fn(pred, target).item() - expected) < 1e-3
    ablation = loss_function(load_config({})["train"]["loss"] | {"type": "psnr"})
    assert ablation(target, target).item() < -75.0                  # the default cap: 80 dB
    assert loss_function(dict(cfg, type="l2")) is l2                  # other losses: untouched


def test_block_pattern_finds_a_codec_grid_and_not_noise():
    """NumPy oracle: a 4-periodic pattern tiled over an image is what block_pattern keeps;
    independent noise of the same size is shrunk 64-fold (8 x 8 blocks per 32 px square)."""
    rng = np.random.default_rng(0)
    pattern = rng.normal(0.0, 0.02, (3, 4, 4)).astype(np.float32)
    pattern -= pattern.mean(axis=(1, 2), keepdims=True)
    grid = np.tile(pattern, (1, 16, 16))[None].repeat(2, 0)            # 2 x 3 x 64 x 64
    noise = rng.normal(0.0, 0.02, grid.shape).astype(np.float32)
    found = block_pattern(jt.array(grid + noise), 4, 32).numpy()
    assert found.shape == (2, 3, 2, 4, 2, 4)
    assert abs((found ** 2).mean() / (pattern ** 2).mean() - 1.0) < 0.1
    assert (block_pattern(jt.array(noise), 4, 32).numpy() ** 2).mean() < 0.03 * (noise ** 2).mean()
    # a crop smaller than the window: its largest square of whole blocks
    assert block_pattern(jt.array(grid[:, :, :24, :20]), 4, 32).shape == (2, 3, 1, 4, 1, 4)


def test_psnr_loss_grid_weight_adds_the_block_pattern_to_the_error():
    cfg = dict(load_config({})["train"]["loss"], type="psnr", psnr_max_db=40.0,
               grid_weight=10.0)
    target = jt.rand(1, 3, 32, 32)
    pattern = np.zeros((3, 4, 4), np.float32)
    pattern[:, 0, 0], pattern[:, 2, 1] = 0.05, -0.05                 # mean zero per channel
    grid = np.tile(pattern, (1, 8, 8))[None]
    mse = (grid ** 2).mean()
    expected = 10 * np.log10(mse + 10.0 * mse + 1e-4)                # the grid is all pattern
    assert abs(loss_function(cfg)(target + jt.array(grid), target).item() - expected) < 1e-3
    plain = loss_function(dict(cfg, grid_weight=0.0))
    assert abs(plain(target + jt.array(grid), target).item()
               - 10 * np.log10(mse + 1e-4)) < 1e-3


def _count(model):
    return sum(p.numel() for p in model.trainable_parameters())


def test_parameter_counts_match_the_release():
    release = jsymnet.build_model(None, codec={"weights": None})
    assert _count(release) == 11_559_624        # docs/design.md#release-layout: what runs
    assert sum(p.numel() for p in release.ift.blocks[0].F.parameters()) == 481_651
    assert len(release.state_dict()) == 842     # 964 release tensors - 120 soca - 2 decoder copies
    frozen = [n for n, p in release.named_parameters() if p.is_stop_grad()]
    assert frozen == ["codec.weight1", "codec.weight2"]
    shared = jsymnet.build_model("configs/paper_shared.yaml", codec={"weights": None})
    assert _count(shared) == 4_444_584
    shared.eval()  # Jittor's eval() stops every gradient; the count must not change
    assert _count(shared) == 4_444_584
    shared.train()
    assert [n for n, p in shared.named_parameters() if p.is_stop_grad()] == frozen


def test_every_trainable_parameter_gets_a_gradient_and_the_codec_none():
    # reduction 2: an attention squeeze of 8 channels, so its PReLU sees negative inputs
    model = randomize(jsymnet.build_model(tiny_config(reduction=2)))
    loss_cfg = load_config({})["train"]["loss"]
    x_lq, x_hq = jt.rand(2, 3, 16, 16) * 0.3, jt.rand(2, 3, 16, 16)
    loss, parts = bidirectional_loss(model, x_lq, x_hq, loss_cfg)
    assert set(parts) == {"enhance", "degrade"}
    params = model.trainable_parameters()
    names = [n for n, p in model.named_parameters() if not p.is_stop_grad()]
    grads = jt.grad(loss, params)
    dead = [n for n, g in zip(names, grads) if not np.abs(g.numpy()).max() > 0]
    assert not dead, f"no gradient reaches {dead}"
    codec = [model.codec.weight1.numpy().copy(), model.codec.weight2.numpy().copy()]
    opt = jt.optim.Adam(model.parameters(), lr=1e-3)
    before = params[0].numpy().copy()
    opt.step(loss)
    assert max_diff(model.codec.weight1, codec[0]) == 0.0
    assert max_diff(model.codec.weight2, codec[1]) == 0.0
    assert max_diff(params[0], before) > 0


def test_no_backward_loss_ablation_drops_the_degrade_term():
    model = jsymnet.build_model(tiny_config())
    cfg = dict(load_config({})["train"]["loss"], lambda_degrade=0.0)
    x = jt.rand(1, 3, 16, 16)
    total, parts = bidirectional_loss(model, x, x, cfg)
    assert set(parts) == {"enhance"}
    assert max_diff(total, parts["enhance"]) == 0.0


@pytest.mark.cuda
def test_cuda_forward_matches_cpu():
    if not jt.has_cuda:
        pytest.skip("no NVIDIA GPU on this machine: Jittor runs on CPU (CUDA checks need one)")
    model = randomize(jsymnet.build_model(tiny_config()))
    x = jt.rand(1, 3, 37, 53)
    cpu = model.enhance(x).numpy()
    jsymnet.use_device("cuda")
    try:
        assert max_diff(model.enhance(x), cpu) < 1e-4
    finally:
        jsymnet.use_device("cpu")
