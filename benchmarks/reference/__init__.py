"""The PyTorch reference of the authors' release, which jsymnet is checked and timed against.

Not part of the installed package. ``torch_release`` (the network) and ``bench_torch``
(the PyTorch benchmark worker, run by path) need torch (the ``torch`` extra) and run only
in processes without Jittor; ``bench_protocol`` (numpy only) is what the benchmark workers
and ``benchlib.harness`` say to each other.
"""
