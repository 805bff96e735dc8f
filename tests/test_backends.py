"""Both convolution backends give the network's numbers.

Jittor runs convolutions with oneDNN (``use_mkl=1``) or with its own kernels
(``use_mkl=0``, where oneDNN is absent). Jittor 1.3.11's own grouped stride-2
transposed convolution was wrong, and the README's main job then printed
10.03 dB with red images. Each backend is a separate process (Jittor reads the
flag once, at import): every operator signature the network uses is checked
against NumPy (tests/backend_conformance.py), and the main job's table must be
the same on every backend. oneDNN runs in two feature layouts: channels-last
(what it runs by default, ``jsymnet.models.layout``) and N x C x H x W; both are checked.
"""
import json
import os
import re
import subprocess
import sys

import pytest

import jsymnet
from conftest import ROOT

# name: (use_mkl, JSYMNET_LAYOUT)
BACKENDS = {"onednn": ("1", "nhwc"), "onednn-nchw": ("1", "nchw"), "jittor": ("0", "nchw")}
TOL = 1e-4


def run(cmd, backend, result, cwd=ROOT, timeout=1800):
    """Run ``cmd`` on one backend; its result is read from the file it writes (a process
    whose Jittor compiled new kernels can lose its buffered stdout)."""
    use_mkl, lay = BACKENDS[backend]
    env = dict(os.environ, use_mkl=use_mkl, JSYMNET_LAYOUT=lay, PYTHONPATH=str(ROOT))
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)
    assert out.returncode == 0 and result.is_file(), out.stderr[-3000:]
    return json.loads(result.read_text())


def need(backend):
    if backend.startswith("onednn") and not jsymnet.runtime_info()["onednn"]:
        pytest.skip("oneDNN is not available in this environment (pip install -e . installs it "
                    "on Linux x86_64)")


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_operator_matches_numpy(backend, tmp_path):
    need(backend)
    result = run([sys.executable, str(ROOT / "tests" / "backend_conformance.py"),
                  str(tmp_path / "result.json")], backend, tmp_path / "result.json")
    assert result["onednn"] == backend.startswith("onednn")
    assert result["layout"] == BACKENDS[backend][1]
    bad = {k: v for k, v in result["errors"].items() if not v < TOL}
    assert not bad, f"{backend}: operators that disagree with NumPy: {bad}"
    assert len(result["errors"]) >= 16


def test_no_grouped_transposed_convolution_in_the_package():
    """The operator Jittor gets wrong without oneDNN must not come back."""
    for path in (ROOT / "jsymnet").rglob("*.py"):
        text = path.read_text()
        for call in re.findall(r"conv_transpose2?d?\((?:[^()]|\([^()]*\))*\)", text):
            assert "groups" not in call, f"{path}: {call}"


@pytest.fixture(scope="module")
def sample_tables(tmp_path_factory):
    """The README's main job on each backend."""
    tables = {}
    for backend in BACKENDS:
        if backend.startswith("onednn") and not jsymnet.runtime_info()["onednn"]:
            continue
        out = tmp_path_factory.mktemp(backend)
        tables[backend] = run([sys.executable, str(ROOT / "tools" / "test.py"), "--dataset",
                               "sample", "--out", str(out), "--no-progress"], backend,
                              out / "summary.json")
    return tables


@pytest.mark.slow
def test_main_job_gives_the_readme_table_on_both_backends(sample_tables):
    readme = (ROOT / "README.md").read_text()
    expected = tuple(map(float, re.search(r"^jsymnet\s+([\d.]+)\s+([\d.]+)$", readme,
                                          re.M).groups()))
    assert sample_tables, "no backend ran"
    for backend, summary in sample_tables.items():
        psnr, ssim = summary["psnr"], summary["ssim"]
        assert abs(psnr - expected[0]) <= 0.01 and abs(ssim - expected[1]) <= 1e-4, \
            (backend, psnr, ssim, expected)
