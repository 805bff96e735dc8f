"""Prepare the Jittor runtime before ``import jittor``: the one place that does it.

Jittor, imported bare on a machine with ``nvcc`` but no GPU, fails while
looking for ``libcudart``. Without its downloaded oneDNN it runs
convolutions far slower, and it tries to download oneDNN, CUTLASS and
cuTT from the network. :func:`prepare` decides all of this up front, through
the environment variables Jittor reads when it is imported:

* device: CUDA when an NVIDIA device and ``libcudart`` are both present and
  the user did not ask for the CPU (``JSYMNET_DEVICE=cpu``), otherwise CPU
  (``nvcc_path=""``).
* oneDNN: Jittor's own copy if it is in its cache; otherwise PyPI's oneDNN 2.2
  (``onednn-cpu-gomp``, a dependency of jsymnet on Linux x86_64); otherwise the
  system's (Debian ``libdnnl-dev``); each laid out where Jittor looks for its own.
  If none exists, ``use_mkl=0`` and one warning that names the fix.
* downloads: ``use_cutlass=0``, ``use_cutt=0`` and ``use_nccl=0``.
* logs: ``log_silent=1`` (Jittor's info lines on every import); jsymnet says
  once, itself, when the first import is about to compile Jittor's core.
* torch: Jittor imports PyTorch at start-up whenever it is installed
  (``FIX_TORCH_ERROR``); that slows every import and puts both native
  runtimes in every process, where a compile thread can crash and deadlock,
  so jsymnet sets ``FIX_TORCH_ERROR=0``. Code that needs both should run
  torch in a separate process.
* memory allocator: glibc keeps freed memory for reuse instead of mapping
  and page-faulting every large oneDNN buffer afresh
  (:mod:`jsymnet.utils.malloc_tuning`, opt out with ``JSYMNET_MALLOC=system``).

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

from .errors import JsymnetError
from .utils import limits, malloc_tuning

DEVICE_ENV = "JSYMNET_DEVICE"
DEVICES = ("auto", "cpu", "cuda")
# Jittor looks for its oneDNN copy in a folder named after the release it would download.
JITTOR_DNNL_DIRNAME = "dnnl_lnx_2.2.0_cpu_gomp"
ONEDNN_FIX = ("pip install onednn-cpu-gomp==2021.2.0 onednn-devel-cpu-gomp==2021.2.0 "
              "(jsymnet's own dependencies on Linux x86_64), or apt-get install libdnnl-dev, "
              "and start Python again")

_state = {"prepared": False, "device": None, "onednn": None, "warned": False,
          "malloc": None}


class RuntimeSetupError(JsymnetError, RuntimeError):
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


ONEDNN_ENV = "JSYMNET_ONEDNN"
ONEDNN_CHOICES = ("auto", "pip", "system")
# PyPI's oneDNN 2.2.0 (the release Jittor 1.3 downloads for itself), a dependency on Linux x86_64.
PIP_ONEDNN = ("onednn-cpu-gomp", "onednn-devel-cpu-gomp")
_SOURCE_FILE = "SOURCE"  # marks a layout jsymnet made (absent in Jittor's own download)


def _jittor_onednn_present(mkl_dir):
    return any((d / "lib" / "libmkldnn.so").is_file()
               for d in mkl_dir.glob("dnnl*") if d.is_dir())


def _pip_onednn():
    """(headers, libraries) of oneDNN installed from PyPI into this environment, or None.

    The wheels put ``libdnnl.so*``/``libmkldnn.so*`` in the environment's ``lib/`` and the
    headers in its ``include/``; their file lists say where, for any install scheme.
    """
    from importlib import metadata
    found = {}
    for name in PIP_ONEDNN:
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            return None
        for f in dist.files or ():
            found.setdefault(name, []).append(Path(os.path.normpath(dist.locate_file(f))))
    libs = [p for p in found[PIP_ONEDNN[0]]
            if p.name.startswith(("libdnnl.so", "libmkldnn.so")) and p.exists()]
    headers = []
    for p in found[PIP_ONEDNN[1]]:
        parts = p.parts
        if "include" in parts:
            top = Path(*parts[:parts.index("include") + 2])  # include/<first component>
            if top not in headers and top.exists():
                headers.append(top)
    if not any(p.name == "libmkldnn.so" for p in libs) or \
            not any(h.name == "dnnl.hpp" for h in headers):
        return None
    return headers, libs


def _system_onednn():
    """(headers, libraries) of a system oneDNN (Debian's ``libdnnl-dev``), or None."""
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
                    headers = sorted(Path(include).glob("dnnl*")) + [Path(include) / "oneapi"]
                    # Jittor links -lmkldnn: the system library under that name as well.
                    return headers, [Path(lib), ("libmkldnn.so", Path(lib))]
    return None


def _layout_source(target):
    try:
        return (target / _SOURCE_FILE).read_text().split("\n", 1)[0]
    except OSError:
        return None


def _layout_intact(target):
    """Both folders are there and none of their symlinks is broken."""
    folders = [target / "include", target / "lib"]
    return all(d.is_dir() for d in folders) and \
        all(p.exists() for d in folders for p in d.iterdir())


def _lay_out_onednn(mkl_dir, label, headers, libs):
    """Build Jittor's expected oneDNN folder from symlinks into an installed copy.

    ``include/`` links every header entry, ``lib/`` every library file (the loader
    needs ``libdnnl.so.2`` beside ``libmkldnn.so``). Built in a temporary folder
    and renamed into place, so processes starting at the same time never see a
    half-made folder. The first line of ``SOURCE`` names the copy it points to.
    """
    mkl_dir.mkdir(parents=True, exist_ok=True)
    target = mkl_dir / JITTOR_DNNL_DIRNAME
    tmp = Path(tempfile.mkdtemp(prefix=".jsymnet-dnnl-", dir=mkl_dir))
    try:
        (tmp / "include").mkdir()
        (tmp / "lib").mkdir()
        for header in headers:
            (tmp / "include" / header.name).symlink_to(header)
        for lib in libs:
            name, lib = lib if isinstance(lib, tuple) else (lib.name, lib)
            if not (tmp / "lib" / name).exists():
                (tmp / "lib" / name).symlink_to(lib)
        (tmp / _SOURCE_FILE).write_text(f"{label}\nsymlinks made by jsymnet\n")
        if target.exists() or target.is_symlink():
            old = Path(tempfile.mkdtemp(prefix=".jsymnet-old-", dir=mkl_dir))
            os.rename(target, old / "dnnl")
            shutil.rmtree(old, ignore_errors=True)
        os.rename(tmp, target)
    except OSError:
        if _layout_source(target) != label:  # lost a race, or failed for real
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _prepare_onednn():
    """Choose Jittor's oneDNN and lay it out; returns the description runtime_info shows.

    Order: Jittor's own download if it is in the cache; else PyPI's oneDNN 2.2
    (``onednn-cpu-gomp``, a dependency of jsymnet on Linux x86_64, the release
    Jittor is built for); else the system's (``libdnnl-dev``); else none, with
    one warning. ``JSYMNET_ONEDNN=pip|system`` insists on one of the two.
    """
    if "use_mkl" in os.environ:
        return "on (user setting)" if os.environ["use_mkl"] == "1" else "off (user setting)"
    choice = os.environ.get(ONEDNN_ENV, "auto").lower()
    if choice not in ONEDNN_CHOICES:
        raise RuntimeSetupError(f"{ONEDNN_ENV}={choice!r}: use one of "
                                f"{', '.join(ONEDNN_CHOICES)}")
    mkl_dir = jittor_cache_dir() / "mkl"
    target = mkl_dir / JITTOR_DNNL_DIRNAME
    current = _layout_source(target) if target.is_dir() else None
    if choice == "auto" and current is None and _jittor_onednn_present(mkl_dir):
        return "on (Jittor's oneDNN)"
    candidates = {"pip": ("pip oneDNN 2.2.0 (onednn-cpu-gomp)", _pip_onednn),
                  "system": ("system oneDNN (libdnnl-dev)", _system_onednn)}
    order = ["pip", "system"] if choice == "auto" else [choice]
    reason = f"no oneDNN found ({ONEDNN_ENV}={choice})" if choice != "auto" else \
        "no oneDNN found"
    for key in order:
        label, find = candidates[key]
        found = find()
        if found is None:
            continue
        if current == label and _layout_intact(target):
            return f"on ({label})"
        try:
            _lay_out_onednn(mkl_dir, label, *found)
            return f"on ({label})"
        except OSError as exc:
            reason = f"could not lay out the {label} in {mkl_dir}: {exc}"
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
    # OpenCV decodes up to 2^30 pixels by default (4 GB of RGB for a 1 MB PNG); hold it to
    # the limit jsymnet checks from the header (jsymnet.data.image_io.max_image_pixels).
    os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS",
                          os.environ.get(limits.MAX_PIXELS_ENV,
                                         str(limits.DEFAULT_MAX_IMAGE_PIXELS)))
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


def loaded_onednn():
    """The oneDNN library file this process has loaded (Linux), resolved; else None."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    for line in maps.splitlines():
        path = line.split()[-1] if line.split() else ""
        if "/libdnnl.so" in path or "/libmkldnn.so" in path:
            return str(Path(path).resolve())
    return None


def onednn_ops():
    """Jittor's oneDNN operators (``mkl_conv`` ...) when this process loaded oneDNN, else None."""
    import jittor as jt
    return jt.compile_extern.mkl_ops if jt.compile_extern.use_mkl else None


def runtime_info():
    """What the runtime is: backend, oneDNN, Jittor version and cache folder."""
    import jittor as jt
    return {
        "backend": "cuda" if jt.flags.use_cuda else "cpu",
        "cuda_available": bool(jt.has_cuda),
        "onednn": onednn_ops() is not None,
        "onednn_source": _state["onednn"],
        "onednn_library": loaded_onednn(),
        "malloc": _state["malloc"],
        "jittor_version": jt.__version__,
        "cache_dir": str(jt.flags.cache_path),
    }
