"""The runtime set-up: CPU despite nvcc on PATH, oneDNN found or clearly absent."""
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import jsymnet
import pytest

from jsymnet import runtime

ROOT = Path(__file__).resolve().parents[1]


def _clean_env(tmp_path):
    """This machine's environment minus everything jsymnet.runtime would set, nvcc on PATH."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("nvcc_path", "use_mkl", "use_cutlass", "use_cutt", "use_nccl",
                        runtime.DEVICE_ENV)}
    if shutil.which("nvcc") is None:  # stand in a fake nvcc: jittor must not try to use it
        fake = tmp_path / "bin"
        fake.mkdir()
        (fake / "nvcc").write_text("#!/bin/sh\necho 'Cuda compilation tools, release 13.0'\n")
        (fake / "nvcc").chmod(0o755)
        env["PATH"] = f"{fake}:{env.get('PATH', '')}"
    env["PYTHONPATH"] = f"{ROOT}:{env.get('PYTHONPATH', '')}"
    return env


@pytest.mark.skipif(runtime.cuda_available(), reason="this machine has a GPU: the CPU "
                    "fallback is tested where there is none")
def test_fresh_process_with_nvcc_and_no_gpu_runs_on_cpu(tmp_path):
    script = textwrap.dedent("""
        import json, jsymnet, jittor as jt
        model = jsymnet.build_model({"model": {"codec": {"weights": None, "channels": 16},
            "ift": {"num_blocks": 1}, "subnet": {"mid_channels": 8, "hidden_channels": 8,
            "reduction": 4}}})
        y = model.enhance(jt.rand(1, 3, 16, 16))
        info = jsymnet.runtime_info()
        info["shape"] = list(y.shape)
        print("INFO" + json.dumps(info))
    """)
    env = _clean_env(tmp_path)
    assert shutil.which("nvcc", path=env["PATH"])
    proc = subprocess.run([sys.executable, "-c", script], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("INFO")][-1]
    info = json.loads(line[4:])
    assert info["backend"] == "cpu" and info["shape"] == [1, 3, 16, 16]
    assert set(info) >= {"backend", "onednn", "jittor_version", "cache_dir"}


def test_runtime_info_reports_this_process():
    info = jsymnet.runtime_info()
    assert info["backend"] in ("cpu", "cuda")
    assert info["jittor_version"].startswith("1.")
    assert Path(info["cache_dir"]).is_dir()
    assert isinstance(info["onednn"], bool)


def test_onednn_missing_falls_back_with_one_warning(tmp_path, monkeypatch):
    monkeypatch.setenv("JITTOR_HOME", str(tmp_path))
    monkeypatch.delenv("use_mkl", raising=False)
    monkeypatch.delenv(runtime.ONEDNN_ENV, raising=False)
    monkeypatch.setattr(runtime, "_pip_onednn", lambda: None)
    monkeypatch.setattr(runtime, "_system_onednn", lambda: None)
    monkeypatch.setitem(runtime._state, "warned", False)
    with pytest.warns(RuntimeWarning, match="pip install onednn-cpu-gomp==2021.2.0"):
        assert runtime._prepare_onednn() == "off"
    assert os.environ["use_mkl"] == "0"


def fake_onednn(root, lib_names=("libdnnl.so", "libdnnl.so.2", "libmkldnn.so")):
    """(headers, libraries) of a fake oneDNN copy under ``root``."""
    (root / "include" / "oneapi" / "dnnl").mkdir(parents=True)
    (root / "include" / "oneapi" / "dnnl" / "dnnl.hpp").write_text("")
    (root / "include" / "dnnl.hpp").write_text("")
    (root / "lib").mkdir()
    for name in lib_names:
        (root / "lib" / name).write_text(name)
    return ([root / "include" / "dnnl.hpp", root / "include" / "oneapi"],
            [root / "lib" / n for n in lib_names])


def test_pip_onednn_is_found_in_this_environment():
    """setup.py makes PyPI's oneDNN 2.2 a dependency on Linux x86_64: its files are found."""
    import platform
    if (platform.system(), platform.machine()) != ("Linux", "x86_64"):
        pytest.skip("PyPI's oneDNN wheels are a dependency on Linux x86_64 only")
    found = runtime._pip_onednn()
    assert found is not None, "onednn-cpu-gomp / onednn-devel-cpu-gomp are not installed"
    headers, libs = found
    assert {"libmkldnn.so", "libdnnl.so.2"} <= {p.name for p in libs}
    assert "dnnl.hpp" in {h.name for h in headers}


def test_pip_onednn_is_preferred_and_laid_out_with_every_library(tmp_path, monkeypatch):
    pip_copy, system_copy = fake_onednn(tmp_path / "pip"), fake_onednn(tmp_path / "sys")
    home = tmp_path / "home"
    monkeypatch.setenv("JITTOR_HOME", str(home))
    monkeypatch.delenv("use_mkl", raising=False)
    monkeypatch.delenv(runtime.ONEDNN_ENV, raising=False)
    monkeypatch.setattr(runtime, "_pip_onednn", lambda: pip_copy)
    monkeypatch.setattr(runtime, "_system_onednn", lambda: system_copy)
    pip_label = "on (pip oneDNN 2.2.0 (onednn-cpu-gomp))"
    assert runtime._prepare_onednn() == pip_label
    laid = home / ".cache" / "jittor" / "mkl" / runtime.JITTOR_DNNL_DIRNAME
    for name in ("libdnnl.so", "libdnnl.so.2", "libmkldnn.so"):  # the loader needs .so.2
        assert (laid / "lib" / name).resolve() == (tmp_path / "pip" / "lib" / name).resolve()
    assert (laid / "include" / "oneapi" / "dnnl" / "dnnl.hpp").exists()
    assert runtime._prepare_onednn() == pip_label  # second time: found in place
    # insisting on the system copy lays it out instead; a broken layout is rebuilt
    monkeypatch.setenv(runtime.ONEDNN_ENV, "system")
    assert runtime._prepare_onednn() == "on (system oneDNN (libdnnl-dev))"
    assert (laid / "lib" / "libmkldnn.so").resolve() == \
        (tmp_path / "sys" / "lib" / "libmkldnn.so").resolve()
    monkeypatch.setenv(runtime.ONEDNN_ENV, "auto")
    (laid / "lib" / "libdnnl.so.2").unlink()
    assert runtime._prepare_onednn() == pip_label
    assert (laid / "lib" / "libdnnl.so.2").exists()
    assert "use_mkl" not in os.environ
    monkeypatch.setenv(runtime.ONEDNN_ENV, "conda")
    with pytest.raises(runtime.RuntimeSetupError, match="pip, system"):
        runtime._prepare_onednn()


def test_jittors_own_download_is_left_alone(tmp_path, monkeypatch):
    home = tmp_path / "home"
    own = home / ".cache" / "jittor" / "mkl" / runtime.JITTOR_DNNL_DIRNAME / "lib"
    own.mkdir(parents=True)
    (own / "libmkldnn.so").write_text("")
    monkeypatch.setenv("JITTOR_HOME", str(home))
    monkeypatch.delenv("use_mkl", raising=False)
    monkeypatch.delenv(runtime.ONEDNN_ENV, raising=False)
    assert runtime._prepare_onednn() == "on (Jittor's oneDNN)"


def test_user_settings_are_respected(monkeypatch):
    monkeypatch.setenv("use_mkl", "0")
    assert runtime._prepare_onednn() == "off (user setting)"
    with pytest.raises(runtime.RuntimeSetupError, match="unknown device"):
        runtime._requested_device("tpu")


def test_cuda_request_without_gpu_is_a_clear_error():
    if runtime.cuda_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(runtime.RuntimeSetupError, match="--device cpu"):
        jsymnet.use_device("cuda")


_FAULTS = textwrap.dedent("""
    import ctypes, resource, sys
    if sys.argv[1] == "jsymnet":
        import jsymnet
    libc = ctypes.CDLL("libc.so.6")
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    n = 64 * 2 ** 20  # 64 MB, as a C library (oneDNN) allocates it: above glibc's mmap threshold
    def use_once():
        p = libc.malloc(n)
        ctypes.memset(p, 1, n)
        libc.free(p)
    use_once()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    use_once()
    print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator only")
def test_tuned_allocator_reuses_large_blocks_instead_of_faulting_them_in(tmp_path):
    """A second 64 MB buffer costs ~16k page faults on glibc's defaults, ~none once tuned."""
    env = dict(os.environ, PYTHONPATH=f"{ROOT}:{os.environ.get('PYTHONPATH', '')}")
    env.pop("JSYMNET_MALLOC", None)
    faults = {}
    for mode in ("plain", "jsymnet"):
        run = subprocess.run([sys.executable, "-c", _FAULTS, mode], env=env,
                             capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stderr[-2000:]
        faults[mode] = int(run.stdout.split()[-1])
    assert faults["plain"] > 10000, faults  # 16384 pages of 4 KiB, mapped afresh
    assert faults["jsymnet"] < 1000, faults
    assert jsymnet.runtime_info()["malloc"] == "tuned"


def test_allocator_tuning_can_be_declined(monkeypatch):
    from jsymnet.utils import malloc_tuning
    monkeypatch.setenv("JSYMNET_MALLOC", "system")
    assert malloc_tuning.tune() == "system"


def test_jittor_asking_for_a_restart_is_not_a_silent_success(tmp_path):
    """Jittor 1.3 calls sys.exit(0) during its import when it rebuilt its utilities; a
    command would then report success having done nothing."""
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "jittor.py").write_text("import sys\nsys.exit(0)  # as jittor/compiler.py does\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(fake), str(ROOT)]))
    out = subprocess.run([sys.executable, "-c", "import jsymnet; print('imported')"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 1 and "run the command again" in out.stderr
    assert "imported" not in out.stdout
