"""jsymnet: the Deep Symmetric Network for underexposed image enhancement, in Jittor.

Importing jsymnet prepares the Jittor runtime (device, oneDNN, no downloads)
before Jittor itself is imported; see :mod:`jsymnet.runtime`.
"""
from . import runtime
runtime.prepare()
try:
    import jittor as _jt  # noqa: E402,F401  (only after the runtime is prepared)
except SystemExit as _exit:
    # Jittor 1.3 ends the process with status 0 ("jit_utils updated, please rerun your
    # command") when it had to rebuild its compiled utilities during this import: the
    # caller would see a success that did nothing.
    if _exit.code not in (0, None):
        raise
    raise runtime.RuntimeSetupError(
        "Jittor rebuilt its compiled utilities during this import and needs a new process: "
        "run the command again (this happens once per Python environment)") from None
runtime.use_device(runtime.current_device())

from .errors import JsymnetError  # noqa: E402
from .config import ConfigError, load_config  # noqa: E402
from .checkpoint import CheckpointError, load_model, save_checkpoint  # noqa: E402
from .models import DeepSymmetricNet, build_model  # noqa: E402
from .runtime import runtime_info, use_device  # noqa: E402
from .inference import enhance  # noqa: E402

from .version import __version__  # noqa: E402
__all__ = ["JsymnetError", "build_model", "load_model", "save_checkpoint", "CheckpointError", "DeepSymmetricNet", "load_config", "ConfigError", "runtime_info",
           "use_device", "runtime", "enhance", "__version__"]
