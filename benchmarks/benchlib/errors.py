"""The benchmarks' one error type, below every other benchlib module (no import cycle)."""
from jsymnet.errors import JsymnetError


class BenchmarkError(JsymnetError, RuntimeError):
    """A benchmark could not run as asked; the message says why and what to do."""
