"""Keep freed memory in the process for reuse (glibc ``mallopt``); standard library only.

Every convolution through oneDNN allocates its blocked-layout buffers afresh,
and at image sizes those buffers are tens of MB: above glibc's mmap threshold,
so each one is mapped from the kernel, page-faulted in 4 KiB at a time,
zeroed, and unmapped again, run after run. With mmap and trimming off, the
pages are faulted in on the first run only, at the cost of a somewhat higher
peak (docs/benchmarks.md has the figures).

``tune()`` sets ``M_MMAP_MAX = 0`` (large blocks come from the heap like small
ones) and ``M_TRIM_THRESHOLD = -1`` (the heap's free top is kept, not given
back), so the process settles at its peak footprint and reuses it. It touches
only the allocator's policy, never correctness; set ``JSYMNET_MALLOC=system``
to leave glibc's defaults alone (for instance when jsymnet shares a long-lived
process whose memory should shrink again after a burst).

benchmarks/reference/bench_torch.py imports this file from its folder to give the PyTorch
reference the same settings when asked (``benchmarks/benchmark.py --torch-malloc tuned``).
"""
import ctypes
import ctypes.util
import os

ENV = "JSYMNET_MALLOC"
_state = {"tuned": False}
M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
M_MMAP_MAX = -4


def _libc():
    """glibc, loaded once (``find_library`` runs ldconfig: not for every inference pass);
    None where there is none (musl, macOS)."""
    if "libc" not in _state:
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
            libc.malloc_trim  # noqa: B018  (glibc has both, other C libraries may not)
        except (OSError, AttributeError):
            libc = None
        _state["libc"] = libc
    return _state["libc"]


def tune():
    """Apply the settings above; returns what was done (``"tuned"``, ``"system"``
    when the user opted out, or ``"unavailable"`` without glibc)."""
    if os.environ.get(ENV, "tuned").lower() in ("system", "0", "off", "default"):
        return "system"
    libc = _libc()
    if libc is None:  # not glibc: nothing to tune
        return "unavailable"
    ok = libc.mallopt(M_MMAP_MAX, 0) == 1 and libc.mallopt(M_TRIM_THRESHOLD, -1) == 1
    _state["tuned"] = ok
    return "tuned" if ok else "unavailable"


def release_free_memory():
    """Hand the heap's free pages back to the kernel (glibc ``malloc_trim(0)``), when tuned.

    With trimming off, memory freed by a burst (reading a checkpoint, one
    inference pass) stays resident, and later large buffers that do not fit in
    its holes extend the heap past it, so the peak creeps up pass after pass.
    Trimming once after each such burst holds the peak at the first pass's
    level, for a small fraction of a pass's time. Not for inner loops: pages
    handed back are faulted in again when reused. Returns True if memory was
    released; does nothing under glibc's own policy (``JSYMNET_MALLOC=system``),
    which trims by itself.
    """
    if not _state["tuned"]:
        return False
    return bool(_libc().malloc_trim(0))
