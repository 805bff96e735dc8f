"""Command-line entry points: ``jsymnet-enhance``, ``jsymnet-test``, ``jsymnet-train`` and
``jsymnet-convert`` (installed by pip), also run from a checkout as ``tools/*.py``."""
import signal


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
