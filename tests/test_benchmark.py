"""The performance harness runs both frameworks on one network, and the profiler sees the kernels.

Speed itself is not asserted here (benchmarks/benchmark.py prints it); what is
asserted is that the two workers computed the same thing, which is what makes
their timings comparable.
"""
import jsymnet  # noqa: F401
import pytest

from benchlib.harness import BenchmarkError, format_table, run_case, torch_available
from benchlib.profiling import classify, profile
from conftest import tiny_config

needs_torch = pytest.mark.skipif(not torch_available(),
                                 reason="torch is not installed (pip install -e '.[torch]')")


@needs_torch
def test_enhance_side_by_side_agrees(tmp_path):
    out = run_case("enhance", [1, 3, 16, 24], repeat=2, warmup=1, workdir=tmp_path,
                   log=lambda msg: None)
    js, pt = out["results"]["jsymnet"], out["results"]["pytorch"]
    assert len(js["times_s"]) == len(pt["times_s"]) == 2
    assert min(js["times_s"] + pt["times_s"]) > 0
    assert js["peak_rss_gb"] > 0.05 and pt["peak_rss_gb"] > 0.05
    # the same random release network (saved by torch, converted for jsymnet), same input
    assert out["agreement"]["value"] < 1e-4
    assert "speed-up" in format_table([out])


@needs_torch
def test_training_step_side_by_side_agrees(tmp_path):
    """jsymnet's reversible step and the reference's two accumulated halves: same first loss."""
    out = run_case("train", [2, 3, 16, 16], repeat=2, warmup=1, backward="reversible",
                   torch_accum=2, workdir=tmp_path, log=lambda msg: None)
    js, pt = out["results"]["jsymnet"], out["results"]["pytorch"]
    assert js["values"][0] > 1.0  # a real loss: per-image summed squared error
    assert out["agreement"]["value"] < 1e-4
    # then both take the same Adam steps: each later loss moves by hundreds (random
    # weights, lr 2e-4) and the two frameworks' losses stay within 1% of that move
    for i in (1, 2):
        moved = abs(pt["values"][i] - pt["values"][i - 1])
        assert moved > 10
        assert abs(js["values"][i] - pt["values"][i]) < 0.01 * moved
    assert "reversible; PyTorch 2 x batch/2" in format_table([out])


def test_a_failing_worker_is_reported_with_its_log(tmp_path):
    with pytest.raises(BenchmarkError, match="no_such_config.yaml"):
        run_case("enhance", [1, 3, 16, 16], config=tmp_path / "no_such_config.yaml",
                 frameworks=("jsymnet",), repeat=1, warmup=0, workdir=tmp_path,
                 log=lambda msg: None)


def test_profiler_groups_kernels_by_kind():
    assert classify("mkl_conv«Txd:float32«XFORMAT:abcd") == "conv (oneDNN)"
    assert classify("mkl_conv_backward_w«Txd:float32") == "conv backward to weights (oneDNN)"
    assert classify("«opkey0:reduce«Tx:float32«OP:add«DIM=4") == \
        "reductions (pooling, loss, grad sums)"
    assert classify("«opkey0:broadcast_to«Tx:float32«opkey1:binary«OP:add") == \
        "element-wise (fused)"
    wall, summary, report = profile("train", [2, 3, 16, 16], tiny_config(), "reversible")
    assert wall > 0 and len(report) > 1
    expected = "conv (oneDNN)" if jsymnet.runtime_info()["onednn"] else \
        "conv in Jittor (reindex + reduce)"
    assert summary[expected]["calls"] > 0 and summary[expected]["seconds"] > 0
    if jsymnet.runtime_info()["onednn"]:
        assert summary["conv backward to weights (oneDNN)"]["calls"] > 0


def test_onednn_verbose_lines_are_grouped_by_primitive():
    """The grouping behind profile_model.py --onednn, on lines as oneDNN 2.2 prints them."""
    from benchlib.onednn import parse
    lines = [
        "dnnl_verbose,info,cpu,runtime:OpenMP",
        "dnnl_verbose,exec,cpu,reorder,jit:uni,undef,src_f32::blocked:abcd:f0 "
        "dst_f32::blocked:acdb:f0,,,1x64x200x300,8.8",
        "dnnl_verbose,exec,cpu,reorder,jit:uni,undef,src_f32::blocked:abcd:f0 "
        "dst_f32::blocked:Acdb64a:f0,,,64x128x3x3,0.1",
        "dnnl_verbose,exec,cpu,convolution,brgconv:avx512_core,forward_inference,"
        "src_f32::blocked:acdb:f0 wei_f32::blocked:Acdb64a:f0 bia_undef::undef::f0 "
        "dst_f32::blocked:acdb:f0,,alg:convolution_direct,"
        "mb1_ic64oc64_ih200oh200kh3sh1dh0ph1_iw300ow300kw3sw1dw0pw1,25.6",
        "dnnl_verbose,exec,cpu,convolution,jit:avx512_core,backward_weights,src_f32 "
        "wei_f32 bia_undef dst_f32,,alg:convolution_direct,mb2_ic64oc64,12.5",
    ]
    groups = parse(lines)
    assert groups["reorder of activations"] == {"ms": 8.8, "calls": 1}
    assert groups["reorder of weights"] == {"ms": 0.1, "calls": 1}
    # 1 x 64 x 64 x 200 x 300 x 3 x 3 = 2.21 GMAC; a problem with no size counts none
    assert groups["convolution forward"] == {"ms": 25.6, "calls": 1,
                                             "gmac": pytest.approx(2.21184)}
    assert groups["convolution backward to weights"] == {"ms": 12.5, "calls": 1, "gmac": 0.0}
    from benchlib.onednn import conv_macs, format_shares
    assert conv_macs("mb2_g4ic64oc32_ih10oh5kh3sh2dh0ph1_iw8ow4kw3sw2dw0pw1") == \
        2 * 32 * 16 * 5 * 4 * 3 * 3
    table = format_shares(groups)
    assert "86.4" in table.splitlines()[1]          # 2.21184 GMAC in 25.6 ms
