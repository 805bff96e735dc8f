"""A run's record: ``log.jsonl`` in the run folder, one JSON object a line, and
TensorBoard events beside it (``tb/``) when ``train.tensorboard`` is on and
tensorboardX is installed (the optional extra ``jsymnet[tensorboard]``).

Every record carries its wall-clock ``time``; only the main process (MPI rank 0)
writes. ``tools/plot_run.py`` draws the curves from ``log.jsonl`` alone.
"""
import json
import sys
import time
from pathlib import Path

LOG_NAME = "log.jsonl"


class RunLog:
    """Appends records to ``work_dir/log.jsonl``; mirrors their numbers to TensorBoard."""

    def __init__(self, work_dir, enabled=True):
        self.work_dir = Path(work_dir)
        self.enabled = enabled
        self.tb = None

    def open_tensorboard(self):
        """Start TensorBoard events in ``work_dir/tb``; without tensorboardX, one note and
        log.jsonl alone."""
        if not self.enabled:
            return
        try:
            from tensorboardX import SummaryWriter  # torch's would import torch (see runtime)
        except ImportError:
            print("note: train.tensorboard is on but tensorboardX is not installed (pip "
                  "install 'jsymnet[tensorboard]'); the curves are in log.jsonl: draw them "
                  "with tools/plot_run.py", file=sys.stderr)
            return
        self.tb = SummaryWriter(str(self.work_dir / "tb"))

    def write(self, record):
        """Append ``record`` (with its time); its numbers become TensorBoard scalars
        ``<event>/<key>`` at step ``record["iter"]``."""
        if not self.enabled:
            return
        record = {"time": round(time.time(), 3), **record}
        self.work_dir.mkdir(parents=True, exist_ok=True)
        with open(self.work_dir / LOG_NAME, "a") as f:
            f.write(json.dumps(record) + "\n")
        if self.tb is not None:
            it = record.get("iter", 0)
            for k, v in record.items():
                if k not in ("time", "iter") and isinstance(v, (int, float)) \
                        and not isinstance(v, bool):
                    self.tb.add_scalar(f"{record['event']}/{k}", v, it)
            self.tb.flush()

    def images(self, it, panels):
        """uint8 H x W x 3 ``panels`` as TensorBoard images ``val_images/<i>`` at step
        ``it``."""
        if self.tb is None or not panels:
            return
        for i, panel in enumerate(panels):
            self.tb.add_image(f"val_images/{i}", panel, it, dataformats="HWC")
        self.tb.flush()

    def close(self):
        if self.tb is not None:
            self.tb.close()
            self.tb = None


__all__ = ["LOG_NAME", "RunLog"]
