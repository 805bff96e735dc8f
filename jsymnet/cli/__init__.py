"""Command-line entry points: ``jsymnet-enhance``, ``jsymnet-test``, ``jsymnet-train`` and
``jsymnet-convert`` (installed by pip), also run from a checkout as ``tools/*.py``."""
import signal
import sys

from ..errors import JsymnetError


# What a tool reports as one line: jsymnet's own errors, and the operating system's
# (a folder that cannot be written, a full disk). Anything else is a bug: a traceback.
EXPECTED_ERRORS = (JsymnetError, OSError)
EXIT_ERROR = 2


def report(exc):
    """Print an expected failure as one line on stderr; returns the exit code."""
    print(f"error: {exc}", file=sys.stderr)
    return EXIT_ERROR


def python_handles_interrupts():
    """Ctrl-C and SIGTERM raise ``KeyboardInterrupt`` in Python again.

    Jittor installs a C-level SIGINT handler that ends the process on the spot,
    so ``finally`` blocks never ran and atomic writes left their temporary
    files behind. With Python's handlers they clean up, and the command exits
    with the usual status (130).
    """
    def interrupt(signum, frame):
        raise KeyboardInterrupt
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            signal.signal(sig, interrupt)
        except ValueError:  # not the main thread: leave the handlers alone
            pass
