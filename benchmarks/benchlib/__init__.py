"""Measuring jsymnet, for the scripts in benchmarks/ (not part of the installed package).

``harness``: jsymnet timed beside the PyTorch reference (``benchmarks/benchmark.py``);
``profiling``: one run under Jittor's profiler (``benchmarks/profile_model.py``).
Scripts run as ``python benchmarks/X.py`` have benchmarks/ as ``sys.path[0]`` and import
it as ``benchlib``; the tests add benchmarks/ to ``sys.path`` in tests/conftest.py.
"""
