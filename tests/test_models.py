"""The network against SPEC sections 1-4: invertibility, equations, shapes, counts, gradients.

Modules take feature maps in the active layout (channels-last on the CPU with oneDNN):
``feat`` converts the N x C x H x W data of these tests in, ``public`` converts back.
"""
import jsymnet  # noqa: F401
import jittor as jt
import numpy as np
import pytest

from conftest import feat, max_diff, numpy_state, public, randomize, tiny_config
from jsymnet.config import load_config
from jsymnet.losses import bidirectional_loss, block_pattern, l2, loss_function
from jsymnet.models import IFT, RRAM, HaarCodec, InvertibleBlock
from jsymnet.models import layout
from jsymnet.models.codec import band_rotation
import numpy_reference as ref

RELEASE = load_config({})["model"]["subnet"]          # the release RRAM (SPEC 4)
SHARED = dict(RELEASE, share_weights=True)              # the paper's RRAM
TINY_SUB = load_config(tiny_config())["model"]["subnet"]


@pytest.mark.parametrize("subnet", [RELEASE, SHARED], ids=["release", "paper_shared"])
def test_ift_round_trip_on_random_features(subnet):
    ift = randomize(IFT(64, 8, 32, 1.0, "rram", subnet))
    f = feat(jt.randn(1, 64, 8, 8))
    enhanced = ift(f)
    assert max_diff(enhanced, f) > 0.5, "randomised IFT should move features far"
    assert max_diff(ift(enhanced, reverse=True), f) < 1e-5
    assert max_diff(ift(ift(f, reverse=True)), f) < 1e-5


def test_swapped_halves_stay_invertible_and_scale_every_channel():
    ift = randomize(IFT(16, 2, 8, 1.0, "rram", TINY_SUB, swap=True))
    f = feat(jt.randn(1, 16, 8, 8))
    assert max_diff(ift(ift(f), reverse=True), f) < 1e-5
    assert max_diff(ift(ift(f, reverse=True)), f) < 1e-5
    plain = IFT(16, 2, 8, 1.0, "rram", TINY_SUB)
    plain.load_state_dict(ift.state_dict())
    assert max_diff(plain(f), ift(f)) > 1e-3          # the exchange changes the function
    # the first block applied exchanges: its output's first half is its coupling's y2
    block = ift.order()[0]
    x2, x1 = layout.active().split(f, 8)              # what enhance reads after P
    y2 = block.y2_enhance(x2, block.G(x1), block.H(x1))
    assert max_diff(public(block.enhance(f))[:, 8:], public(y2)) < 1e-6
    with pytest.raises(ValueError, match="half"):
        IFT(16, 2, 6, 1.0, "rram", TINY_SUB, swap=True)


@pytest.mark.parametrize("kind", ["rram_no_attention", "rram_1_round", "resblock",
                                  "se_resblock", "dense"])
def test_ablation_subnets_stay_invertible(kind):
    over = dict(rounds=1 if kind == "rram_1_round" else 3,
                type=kind if not kind.startswith("rram") else "rram")
    if kind.startswith("rram"):
        over["attention"] = kind != "rram_no_attention"
    sub = load_config(tiny_config(**over))["model"]["subnet"]   # the chosen part's keys
    ift = randomize(IFT(16, 2, 8, 1.0, sub["type"], sub))
    f = feat(jt.randn(1, 16, 8, 8))
    assert max_diff(ift(f), f) > 1e-3
    assert max_diff(ift(ift(f), reverse=True), f) < 1e-5


def test_coupling_matches_spec_formulas():
    """SPEC 3 on a tiny tensor: degrade and enhance, with F, G, H as black boxes."""
    clamp = 0.7
    block = randomize(InvertibleBlock(8, 3, clamp, "rram", TINY_SUB))
    data = np.random.RandomState(0).randn(1, 8, 5, 5).astype(np.float32)
    x, x1, x2 = feat(data), feat(data[:, :3]), feat(data[:, 3:])
    n = lambda v: public(v).astype(np.float64)  # noqa: E731
    back = lambda a: feat(a.astype(np.float32))  # noqa: E731
    sig = ref.sigmoid

    y1 = n(x1) + n(block.F(x2))
    s = clamp * (2 * sig(n(block.H(back(y1)))) - 1)
    y2 = n(x2) * np.exp(s) + n(block.G(back(y1)))
    assert max_diff(public(block.degrade(x)), np.concatenate([y1, y2], 1)) < 1e-5

    s = clamp * (2 * sig(n(block.H(x1))) - 1)
    e2 = (n(x2) - n(block.G(x1))) * np.exp(-s)
    e1 = n(x1) - n(block.F(back(e2)))
    assert max_diff(public(block.enhance(x)), np.concatenate([e1, e2], 1)) < 1e-5
    assert max_diff(block(x), block.enhance(x)) == 0.0
    assert max_diff(block(x, reverse=True), block.degrade(x)) == 0.0


@pytest.mark.parametrize("shared", [False, True], ids=["release", "paper_shared"])
@pytest.mark.parametrize("attention", [True, False], ids=["attention", "no_attention"])
def test_rram_matches_equations_5_to_11(shared, attention):
    cfg = dict(TINY_SUB, share_weights=shared, attention=attention, mid_channels=8,
               hidden_channels=12, reduction=4)
    net = randomize(RRAM(3, 5, cfg), scale=1.0)
    x = jt.randn(1, 3, 5, 5)
    expected = ref.rram(x.numpy()[0].astype(np.float64), numpy_state(net, np.float64), 3, shared, attention)
    assert np.abs(expected).max() > 1e-2
    assert max_diff(public(net(feat(x)))[0], expected) < 1e-4


@pytest.mark.parametrize("kind", ["rram", "resblock", "se_resblock"])
def test_standalone_units_compose_to_the_staged_subnet(kind):
    """RSCA.execute (with ChannelAttention.execute) and ResBlock.execute, chained by hand as
    Eq. 5-6 (RRAM) or in a row (residual blocks), equal the subnet's stages."""
    from jsymnet.models.registry import SUBNETS
    cfg = load_config(tiny_config(type=kind, rounds=3))["model"]["subnet"]
    net = randomize(SUBNETS.get(kind)(6, 5, cfg), scale=1.0)
    x = feat(jt.randn(1, 6, 9, 11))
    x_fi = net.prelu(net.conv1(x))
    if kind == "rram":
        h = None                                       # h^1 = 0
        for t in range(1, 4):
            x_fo = net.rsca(t)(x_fi if h is None else h + x_fi)
            h = x_fo if h is None else h + x_fo        # h^(t+1) = h^t + x_fo^t
    else:
        x_fo = x_fi
        for block in net.blocks:
            x_fo = block(x_fo)
    oracle = net.conv2(x_fo)
    assert float(oracle.abs().max()) > 1e-2
    assert max_diff(net(x), oracle.numpy()) < 1e-5


def test_fresh_network_couplings_are_identity():
    """SPEC 4 init: exit convs are zero, so enhance(x) = D(E(x)) and degrade(y) = D(E(y))."""
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
    f = codec.encode(feat(x))
    assert public(f).shape == (1, 48, 2, 3)
    assert max_diff(public(codec.decode(f)), x) < 1e-6
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
    bands = public(plain.encode(feat(x)))
    f = mixed.encode(feat(x))
    # NumPy oracle: the rotation applied to the plain bands, pixel by pixel.
    assert np.abs(public(f) - np.einsum("oc,nchw->nohw", q, bands)).max() < 1e-5
    assert max_diff(public(mixed.decode(f)), x) < 1e-5                # still exactly invertible
    # A flat grey image: unmixed, only the three band means (first IFT half) respond;
    # mixed, the second half carries as much of it as the first.
    flat = public(plain.encode(feat(jt.full((1, 3, 4, 4), 0.5))))[0, :, 0, 0]
    assert np.abs(flat[24:]).max() == 0.0
    spread = public(mixed.encode(feat(jt.full((1, 3, 4, 4), 0.5))))[0, :, 0, 0]
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


def test_psnr_loss_floor_continues_the_log_by_its_tangent():
    """NumPy oracle: above the floor's squared error m0 the distance is
    10 log10(m0) + 10 / ln 10 * (q / m0 - 1), below it the plain PSNR; one slope at m0."""
    cfg = dict(load_config({})["train"]["loss"], type="psnr", psnr_max_db=40.0,
               psnr_floor_db=20.0)
    fn, plain = loss_function(cfg), loss_function(dict(cfg, psnr_floor_db=None))
    target = jt.zeros((1, 3, 8, 8))
    m0, eps = 1e-2, 1e-4
    for err in (0.03, 0.0999, 0.1001, 0.3):                    # mse = err ** 2, m0 = 0.1 ** 2
        q = err ** 2 + eps
        want = 10 * np.log10(q) if q <= m0 else 10 * np.log10(m0) + 10 / np.log(10) * (q / m0 - 1)
        got = fn(target + err, target).item()
        assert abs(got - want) < 1e-3, (err, got, want)
        if q <= m0:
            assert abs(got - plain(target + err, target).item()) < 1e-4
    # the weight of a hard pair: its gradient is that of an image at the floor, not smaller
    x = jt.full((1, 3, 8, 8), 0.3)
    g_floor = jt.grad(fn(x, target), x).numpy().ravel()[0]
    g_plain = jt.grad(plain(x, target), x).numpy().ravel()[0]
    n = 3 * 8 * 8
    assert abs(g_floor - 10 / np.log(10) * 2 * 0.3 / n / m0) < 1e-3 * abs(g_floor)
    assert abs(g_plain - 10 / np.log(10) * 2 * 0.3 / n / (0.09 + eps)) < 1e-3 * abs(g_plain)
    assert g_floor > 8 * g_plain


def _count(model):
    return sum(p.numel() for p in model.trainable_parameters())


def test_parameter_counts_match_the_release():
    release = jsymnet.build_model(None, codec={"weights": None})
    assert _count(release) == 11_559_624        # SPEC 6: the network that runs
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
