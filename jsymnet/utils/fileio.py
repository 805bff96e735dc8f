"""Atomic file writes: a file is either complete or absent, never half-written."""
import contextlib
import os
import signal
import tempfile
from pathlib import Path

from ..errors import JsymnetError


class OutputDirError(JsymnetError, OSError):
    """An output folder cannot be made or written to."""


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path next to ``path``; rename it over ``path`` on success.

    On any exception the temporary file is removed and ``path`` is untouched::

        with atomic_path("out.png") as tmp:
            cv2.imwrite(str(tmp), image)   # tmp keeps the suffix, so writers pick the format
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = None
    try:   # from the file's creation on: a Ctrl-C between two of these lines removes it too
        with _interrupts_held():     # until the name is known, so it can be removed
            fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}",
                                        dir=path.parent)
            tmp = Path(name)
        os.close(fd)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual mode
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        if tmp is not None:
            with contextlib.suppress(OSError):
                tmp.unlink()
        raise


@contextlib.contextmanager
def _interrupts_held():
    """SIGINT and SIGTERM wait (POSIX) while the block runs, and arrive right after it."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def atomic_write_text(path, text):
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def check_writable_dir(path):
    """Make folder ``path`` (and its parents) and prove a file can be written there, before
    any long work whose results would go there; raises an :class:`OutputDirError`."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".jsymnet-probe-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputDirError(f"cannot write into the output folder {path}: "
                             f"{exc.strerror or exc}; choose another one") from None
    return path
