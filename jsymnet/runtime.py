"""Prepare the Jittor runtime before ``import jittor``: the one place that does it.

Jittor, imported bare on a machine with ``nvcc`` but no GPU, fails while
looking for ``libcudart``. Without its downloaded oneDNN it runs
convolutions about 75x slower, and it tries to download oneDNN, CUTLASS and
cuTT from the network. :func:`prepare` decides all of this up front, through
the environment variables Jittor reads when it is imported:

* device: CUDA when an NVIDIA device and ``libcudart`` are both present and
  the user did not ask for the CPU (``JSYMNET_DEVICE=cpu``), otherwise CPU
  (``nvcc_path=""``).
* oneDNN: Jittor's own copy if it is in its cache. Otherwise the system's
  oneDNN (Debian ``libdnnl-dev``), laid out where Jittor looks for its own.
  If neither exists, ``use_mkl=0`` and one warning that names the fix.
* downloads: ``use_cutlass=0``, ``use_cutt=0`` and ``use_nccl=0``.
* logs: ``log_silent=1`` (Jittor's info lines on every import); jsymnet says
  once, itself, when the first import is about to compile Jittor's core.
* torch: Jittor imports PyTorch at start-up whenever it is installed
  (``FIX_TORCH_ERROR``); that costs about a second per import and put both
  native runtimes in every process (a compile thread crashed and deadlocked
  that way here), so jsymnet sets ``FIX_TORCH_ERROR=0``. Code that needs
  both should run torch in a separate process.
* memory allocator: glibc keeps freed memory for reuse instead of mapping
  and page-faulting every large oneDNN buffer afresh (1.5x faster at image
  sizes; :mod:`jsymnet.utils.malloc_tuning`, opt out with ``JSYMNET_MALLOC=system``).

Variables the user already set are never overwritten. ``jsymnet`` calls
:func:`prepare` on import, so ``import jsymnet`` before ``import jittor``
is all a user needs.
"""
import ctypes.util
import glob
import json
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

from .utils import malloc_tuning

DEVICE_ENV = "JSYMNET_DEVICE"
DEVICES = ("auto", "cpu", "cuda")
# Jittor looks for its oneDNN copy in a folder named after the release it would download.
JITTOR_DNNL_DIRNAME = "dnnl_lnx_2.2.0_cpu_gomp"
ONEDNN_FIX = ("install Debian's oneDNN (`apt-get install libdnnl-dev`) and start "
              "Python again")

_state = {"prepared": False, "device": None, "onednn": None, "warned": False,
          "malloc": None}


class RuntimeSetupError(RuntimeError):
    """The runtime cannot honour what was asked (e.g. CUDA without a GPU)."""


def jittor_home():
    """The folder whose ``.cache/jittor`` Jittor uses (it honours ``JITTOR_HOME``)."""
    if os.environ.get("JITTOR_HOME"):
        return Path(os.environ["JITTOR_HOME"]).absolute()
    config = Path.home() / ".cache" / "jittor" / "config.json"
    try:
        return Path(json.loads(config.read_text()).get("JITTOR_HOME", Path.home()))
    except (OSError, ValueError):
        return Path.home()


def jittor_cache_dir():
    return jittor_home() / ".cache" / "jittor"


def _requested_device(device):
    device = (device or os.environ.get(DEVICE_ENV) or "auto").lower()
    if device not in DEVICES:
        raise RuntimeSetupError(
            f"unknown device {device!r} (from {'argument' if device else DEVICE_ENV}); "
            f"use one of {', '.join(DEVICES)}")
    return device


def cuda_available():
    """True when an NVIDIA device node and a loadable CUDA runtime both exist."""
    if not glob.glob("/dev/nvidia[0-9]*"):
        return False
    nvcc = os.environ.get("nvcc_path") or shutil.which("nvcc")
    candidates = []
    if nvcc:
        cuda_home = Path(nvcc).resolve().parent.parent
        candidates += [cuda_home / "lib64" / "libcudart.so", cuda_home / "lib" / "libcudart.so"]
    found = ctypes.util.find_library("cudart")
    if found:
        candidates.append(found)
    for lib in candidates:
        try:
            ctypes.CDLL(str(lib))
            return True
        except OSError:
            continue
    return False


def _jittor_onednn_present(mkl_dir):
    return any((d / "lib" / "libmkldnn.so").is_file()
               for d in mkl_dir.glob("dnnl*") if d.is_dir())


def _system_onednn():
    """(include_dir, libdnnl.so) of a system oneDNN, or None."""
    libs = []
    found = ctypes.util.find_library("dnnl")
    for pattern in ("/usr/lib/*/libdnnl.so", "/usr/lib/libdnnl.so",
                    "/usr/local/lib/libdnnl.so", "/usr/lib64/libdnnl.so"):
        libs += glob.glob(pattern)
    if found and found.startswith("/"):
        libs.insert(0, found)
    for include in ("/usr/include", "/usr/local/include"):
        if (Path(include) / "oneapi" / "dnnl" / "dnnl.hpp").is_file():
            for lib in libs:
                if Path(lib).is_file():
                    return Path(include), Path(lib)
    return None


def _lay_out_system_onednn(mkl_dir, include, lib):
    """Build Jittor's expected oneDNN folder from symlinks into the system copy.

    Built in a temporary folder and renamed into place, so that processes
    starting at the same time never see a half-made folder.
    """
    mkl_dir.mkdir(parents=True, exist_ok=True)
    target = mkl_dir / JITTOR_DNNL_DIRNAME
    tmp = Path(tempfile.mkdtemp(prefix=".jsymnet-dnnl-", dir=mkl_dir))
    try:
        (tmp / "include").mkdir()
        (tmp / "lib").mkdir()
        for header in sorted(include.glob("dnnl*")) + [include / "oneapi"]:
            (tmp / "include" / header.name).symlink_to(header)
        (tmp / "lib" / "libmkldnn.so").symlink_to(lib)
        (tmp / "SOURCE").write_text(f"symlinks to the system oneDNN {lib}, made by jsymnet\n")
        if target.exists() or target.is_symlink():
            shutil.rmtree(target, ignore_errors=True)  # a broken earlier layout
        os.rename(tmp, target)
    except OSError:
        if not _jittor_onednn_present(mkl_dir):  # lost a race, or failed for real
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _prepare_onednn():
    if "use_mkl" in os.environ:
        return "on (user setting)" if os.environ["use_mkl"] == "1" else "off (user setting)"
    mkl_dir = jittor_cache_dir() / "mkl"
    if _jittor_onednn_present(mkl_dir):
        return "on"
    system = _system_onednn()
    if system is not None:
        try:
            _lay_out_system_onednn(mkl_dir, *system)
            return "on (system oneDNN)"
        except OSError as exc:
            reason = f"could not lay out the system oneDNN in {mkl_dir}: {exc}"
    else:
        reason = "no oneDNN found"
    os.environ["use_mkl"] = "0"
    if not _state["warned"]:
        _state["warned"] = True
        warnings.warn(f"jsymnet: {reason}; Jittor will run convolutions without oneDNN, "
                      f"about 75x slower. To fix: {ONEDNN_FIX}.", RuntimeWarning, stacklevel=3)
    return "off"


def prepare(device=None):
    """Set Jittor's environment; call before ``import jittor``. Idempotent.

    ``device`` is ``"auto"``, ``"cpu"`` or ``"cuda"`` (default: ``$JSYMNET_DEVICE``
    or ``auto``). Returns the device that will be used.
    """
    if _state["prepared"]:
        if device is not None:
            use_device(device)
        return _state["device"]
    requested = _requested_device(device)
    if "jittor" in sys.modules:
        warnings.warn("jsymnet: jittor was imported before jsymnet; its runtime settings "
                      "(device, oneDNN, downloads) could not be prepared. Import jsymnet "
                      "first.", RuntimeWarning, stacklevel=2)
    has_gpu = cuda_available()
    if requested == "cuda" and not has_gpu:
        raise RuntimeSetupError("CUDA was requested but no usable NVIDIA GPU was found "
                                "(no /dev/nvidia* device or no libcudart); use --device cpu")
    if not has_gpu:
        os.environ.setdefault("nvcc_path", "")  # CPU even though nvcc is on PATH
    for flag in ("use_cutlass", "use_cutt", "use_nccl"):
        os.environ.setdefault(flag, "0")  # these would be downloaded
    os.environ.setdefault("FIX_TORCH_ERROR", "0")  # do not import torch into every process
    if "log_silent" not in os.environ:
        os.environ["log_silent"] = "1"
        if not any(jittor_cache_dir().glob("jt*/**/jittor_core*.so")):
            print("jsymnet: first use of Jittor on this machine: compiling its core into "
                  f"{jittor_cache_dir()} (2-4 minutes on 2 cores; later imports reuse it) ...",
                  file=sys.stderr, flush=True)
    _state["onednn"] = _prepare_onednn()
    _state["malloc"] = malloc_tuning.tune()
    _state["device"] = "cuda" if has_gpu and requested != "cpu" else "cpu"
    _state["prepared"] = True
    return _state["device"]


def current_device():
    """The device :func:`prepare` chose (or the last :func:`use_device`)."""
    return _state["device"] or prepare()


def use_device(device):
    """Switch the backend after import: ``"cpu"``, ``"cuda"`` or ``"auto"``."""
    device = _requested_device(device)
    import jittor as jt
    if device == "cuda" and not jt.has_cuda:
        raise RuntimeSetupError("CUDA was requested but this Jittor has no CUDA "
                                "(no usable GPU at import time); use --device cpu")
    if device == "auto":
        device = "cuda" if jt.has_cuda else "cpu"
    jt.flags.use_cuda = 1 if device == "cuda" else 0
    _state["device"] = device
    return device


def runtime_info():
    """What the runtime is: backend, oneDNN, Jittor version and cache folder."""
    import jittor as jt
    return {
        "backend": "cuda" if jt.flags.use_cuda else "cpu",
        "cuda_available": bool(jt.has_cuda),
        "onednn": bool(jt.compile_extern.use_mkl and jt.compile_extern.mkl_ops is not None),
        "onednn_source": _state["onednn"],
        "malloc": _state["malloc"],
        "jittor_version": jt.__version__,
        "cache_dir": str(jt.flags.cache_path),
    }
