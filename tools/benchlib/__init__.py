"""Measuring jsymnet, for the scripts in tools/ (not part of the installed package).

``harness``: jsymnet timed beside the PyTorch reference (``tools/benchmark.py``);
``profiling``: one run under Jittor's profiler (``tools/profile_model.py``).
Scripts run as ``python tools/X.py`` have tools/ as ``sys.path[0]`` and import it
as ``benchlib``; the tests add tools/ to ``sys.path`` in tests/conftest.py.
"""
