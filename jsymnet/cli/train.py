"""Train a Deep Symmetric Network (docs/design.md#training): the paper's recipe from a YAML config.

Examples:
  python tools/train.py -c configs/default/bsds.yaml --data-root BSDS500  # default, stage 1
  python tools/train.py -c configs/sample.yaml            # the earlier demo model (a few minutes on a CPU)
  python tools/train.py -c configs/lol.yaml               # the paper's LOL recipe (GPU)
  python tools/train.py -c configs/lol.yaml --auto-resume # continue runs/lol if it stopped
  python tools/train.py -c configs/lol.yaml --resume runs/lol/latest.pkl
  python tools/train.py -c configs/ablations/l1_loss.yaml --set train.schedule.total=100
  mpirun -np 4 python tools/train.py -c configs/lol.yaml  # Jittor MPI data parallel

Fine-tuning (a new run that starts from trained weights; optimiser, schedule and
iteration start fresh, unlike --resume):
  python tools/train.py --init weights/jsymnet_default.pkl --set data.dataset=folder \
      --set data.low=LOW --set data.high=HIGH --set data.val_fraction=0.2 \
      --set train.optim.lr=5e-5 --set train.schedule.total=500 --set "train.schedule.milestones=[]"
Without -c the run takes the checkpoint's own config (model, data, training), which
--set and --data-root then change; with -c the YAML's. The run validates once before
its first step, so its log starts with the score of the weights it started from.

The run folder (--work-dir, default runs/<config name>) receives config.yaml,
log.jsonl (JSON lines: losses, lr, validation PSNR/SSIM), latest.pkl (full
state for --resume), best.pkl (best validation PSNR) and final.pkl (weights
only, at the end). All are jsymnet checkpoints: tools/test.py --weights
runs/<name>/best.pkl evaluates one. Ctrl-C finishes the current step, saves
latest.pkl and exits; --resume / --auto-resume then continue exactly.

With mpirun, train.batch_size is the global batch, split evenly across the
processes; only rank 0 validates, logs and saves.
"""
import argparse
import sys
from pathlib import Path

from . import EXIT_OK, add_import_option, add_set_option, import_modules, parse_set, set_overrides  # noqa: F401,E501  (parse_set: API)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-c", "--config", default=None,
                   help="YAML config (e.g. configs/lol.yaml); optional with --init, whose "
                        "checkpoint's config is then used")
    p.add_argument("--init", default=None, metavar="WEIGHTS",
                   help="start a new run from these weights: any jsymnet checkpoint, or a "
                        "shipped name such as weights/jsymnet_default.pkl (train.init)")
    p.add_argument("--work-dir", "--out", dest="work_dir", default=None,
                   help="run folder (default: runs/<config name>)")
    p.add_argument("--resume", default=None,
                   help="continue from this checkpoint (a run's latest.pkl or iter_<N>.pkl)")
    p.add_argument("--auto-resume", action="store_true",
                   help="continue from <work-dir>/latest.pkl if it exists, else start fresh")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                   help="where to train (default: auto = CUDA if available)")
    p.add_argument("--data-root", default=None, help="dataset folder (overrides data.root)")
    add_set_option(p)
    add_import_option(p)
    p.add_argument("--max-steps", type=int, default=None,
                   help="stop after this many steps of this invocation (saves latest.pkl)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    if args.config is None and args.init is None:
        p.error("give a config (-c CONFIG), or --init WEIGHTS to take the checkpoint's")
    args.overrides = set_overrides(p, args.set)
    return args


def main(argv=None):
    args = parse_args(argv)
    import jsymnet  # prepares Jittor before it is imported
    from jsymnet.config import load_config
    from jsymnet.engine.trainer import train
    from . import EXPECTED_ERRORS, report

    overrides = args.overrides
    if args.data_root:
        overrides.setdefault("data", {})["root"] = args.data_root
    if args.init:
        overrides.setdefault("train", {})["init"] = args.init
    try:
        import_modules(args.imports)
        jsymnet.use_device(args.device)
        base = args.config
        if base is None:  # the checkpoint's own config
            from jsymnet.checkpoint import read_checkpoint
            from jsymnet.inference import resolve_weights
            base = load_config(read_checkpoint(resolve_weights(args.init))["config"])
        cfg = load_config(base, overrides)
        work_dir = args.work_dir or str(Path("runs") / cfg["name"])
        trainer, summary = train(cfg, work_dir, resume=args.resume,
                                 auto_resume=args.auto_resume, progress=not args.no_progress,
                                 max_steps=args.max_steps)
    except EXPECTED_ERRORS as exc:
        return report(exc)
    if trainer.main:
        print(f"run folder: {work_dir}")
        for k in ("iter", "finished", "interrupted", "seconds", "best_psnr", "best_iter",
                  "val_psnr", "val_ssim"):
            if summary.get(k) is not None:
                print(f"  {k}: {summary[k]}")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
