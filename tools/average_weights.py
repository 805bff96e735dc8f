#!/usr/bin/env python
"""Average checkpoints of one network into one (a "model soup"): the default model's
last step (weights/MODEL_CARD.md).

  python tools/average_weights.py runs/grid/final.pkl runs/grid_keep/final.pkl \\
      runs/reallight/best.pkl --weights 0.4 0.3 0.3 -o weights/jsymnet_default.pkl

Every tensor is ``sum_i w_i * theta_i``; the files must hold the same network (equal
``model`` configs, the same tensors). The output is written atomically.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from jsymnet.checkpoint import average_checkpoints, save_checkpoint  # noqa: E402
from jsymnet.errors import JsymnetError  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("checkpoints", nargs="+", help="two or more jsymnet checkpoints")
    p.add_argument("--weights", type=float, nargs="+",
                   help="one weight per checkpoint, summing to 1 (default: uniform)")
    p.add_argument("-o", "--output", required=True, help="the averaged checkpoint")
    args = p.parse_args(argv)
    try:
        avg = average_checkpoints(args.checkpoints, args.weights)
        save_checkpoint(args.output, state_dict=avg["state_dict"], config=avg["config"],
                        source=avg["source"])
    except JsymnetError as exc:
        p.exit(2, f"average_weights.py: error: {exc}\n")
    print(f"wrote {args.output}: " + ", ".join(
        f"{w:g} x {c}" for c, w in avg["source"]["weights"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
