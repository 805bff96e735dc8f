"""Command-line entry points: ``jsymnet-enhance``, ``jsymnet-test``, ``jsymnet-train`` and
``jsymnet-convert`` (installed by pip), also run from a checkout as ``tools/*.py``."""
import os
import signal
import sys

from ..errors import JsymnetError


# What a tool reports as one line: jsymnet's own errors, and the operating system's
# (a folder that cannot be written, a full disk). Anything else is a bug: a traceback.
EXPECTED_ERRORS = (JsymnetError, OSError)

# The exit codes of every tool (tools/*.py and the installed commands).
EXIT_OK = 0             # everything done
EXIT_FAILED = 1         # it ran, but part of the work failed (e.g. some images of a batch)
EXIT_ERROR = 2          # bad usage or an expected error (one line on stderr): nothing done
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM (128 + SIGINT, as shells report it)


def report(exc):
    """Print an expected failure as one line on stderr; returns the exit code."""
    print(f"error: {exc}", file=sys.stderr)
    return EXIT_ERROR


def add_set_option(parser, example="train.optim.lr=1e-4"):
    """Give ``parser`` the repeatable ``--set KEY=VALUE`` config override (``args.set``);
    :func:`set_overrides` turns it into the ``overrides`` of ``load_config``."""
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help=f"override a config key, e.g. --set {example} (repeatable)")


def add_import_option(parser):
    """Give ``parser`` the repeatable ``--import MODULE`` (``args.imports``): modules of your
    own whose parts (a codec, subnet, dataset, loss or optimiser) register themselves when
    imported, so that a config can name them (:mod:`jsymnet.registry`)."""
    parser.add_argument("--import", dest="imports", action="append", metavar="MODULE",
                        default=[],
                        help="import this module first, so that the parts it registers can "
                             "be named in the config (e.g. --import my_parts for my_parts.py "
                             "in the current folder; repeatable)")


def import_modules(names):
    """Import the ``--import`` modules (the current folder first on the path, as ``python
    -m`` has it)."""
    from ..registry import import_modules as run
    if names and "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    run(names)


def parse_set(items):
    """``a.b.c=value`` strings -> nested dict; values are parsed as YAML (1e-4, [1, 2], null).

    A malformed item is a ``SystemExit`` with the message (see :func:`set_overrides`).
    """
    import yaml
    from ..config import yaml11_number
    out = {}
    for item in items or []:
        if "=" not in item:
            raise SystemExit(f"--set expects KEY=VALUE (e.g. train.optim.lr=1e-4), got {item!r}")
        key, value = item.split("=", 1)
        node = out
        parts = key.strip().split(".")
        for i, part in enumerate(parts[:-1]):
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise SystemExit(f"--set {item!r}: {'.'.join(parts[:i + 1])} is set to a "
                                 f"value by another --set, not a section")
        node[parts[-1]] = yaml11_number(yaml.safe_load(value))
    return out


def set_overrides(parser, items):
    """The ``--set`` items as a nested overrides dict; a malformed one is a usage error
    of ``parser`` (its usage and the message on stderr, exit :data:`EXIT_ERROR`)."""
    try:
        return parse_set(items)
    except SystemExit as exc:
        parser.error(str(exc))


def config_file(cfg):
    """The path of a temporary YAML file holding the validated ``cfg`` (removed when this
    process exits), for tools that hand their config on by path (to worker processes):
    their ``--set`` overrides travel with it."""
    import atexit
    import tempfile
    from ..config import dump_config
    fd, path = tempfile.mkstemp(prefix="jsymnet-config-", suffix=".yaml")
    with os.fdopen(fd, "w") as f:
        f.write(dump_config(cfg))
    atexit.register(_remove, path)
    return path


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


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
