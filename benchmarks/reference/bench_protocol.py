"""What a benchmark worker process and ``benchlib.harness`` say to each other.

numpy and the standard library only: the PyTorch worker
(``bench_torch.py``, run by path) and the Jittor worker
(``benchlib.harness``) both use it, and neither may load the other's runtime.

A worker builds its network, runs the warm-up, then answers one line on
stdin at a time: ``run`` (one timed run) or ``quit`` (its peak memory, then
exit). Answers are single JSON lines on stdout behind :data:`TAG`; anything
else a framework prints is ignored.
"""
import json
import resource
import sys
import time

import numpy as np

TAG = "BENCH "


def emit(**fields):
    sys.stdout.write(TAG + json.dumps(fields) + "\n")
    sys.stdout.flush()


def peak_rss_gb():
    """This process's peak resident memory (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20


def inputs(case, shape, seed=0):
    """The inputs every worker gets: an image in [0, 1] to enhance, or a training pair
    (a dark low-light image and its well-exposed target)."""
    rng = np.random.RandomState(seed)
    if case == "enhance":
        return (rng.rand(*shape).astype(np.float32),)
    x_hq = rng.rand(*shape).astype(np.float32)
    return (x_hq * 0.3).astype(np.float32), x_hq


def serve(run, warmup, output=None, save_output=None, final=None):
    """Warm up with ``warmup`` calls of ``run`` (it returns (seconds, value)), announce
    readiness with the first run's value, then time runs on request.

    ``value`` is what the two frameworks must agree on: the loss of a training
    step. ``save_output`` (a callable) writes the enhanced image to ``output``
    for comparison; ``final`` returns figures to add to the last answer.
    """
    values = []
    for _ in range(warmup):
        values.append(run()[1])
    if save_output is not None:
        save_output(output)
    emit(ready=True, warmup_values=values, peak_rss_gb=peak_rss_gb())
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "run":
            seconds, value = run()
            emit(time_s=seconds, value=value)
        elif cmd == "quit":
            break
        else:
            emit(error=f"unknown command {cmd!r}")
    emit(done=True, peak_rss_gb=peak_rss_gb(), **(final() if final else {}))


class Stopwatch:
    """``with Stopwatch(sync) as w: ...`` then ``w.seconds``; ``sync`` waits for the device."""

    def __init__(self, sync=None):
        self.sync = sync or (lambda: None)

    def __enter__(self):
        self.sync()
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.sync()
        self.seconds = time.perf_counter() - self.start
        return False
