"""The release's training step in PyTorch, for the training-parity test.

Runs ``benchmarks/reference/torch_release.py``'s ``train_step`` (the release's
``optimize_parameters``: enhance loss + degrade loss on the quantised target,
backward, ``clip_grad_norm_(..., 10)``, ``torch.optim.Adam(lr 2e-4, weight_decay
1e-5)``) for a few steps from the release's initialisation (``release_init``,
seeded; a random frozen codec), in its own
process (torch and Jittor are kept apart, see tests/test_convert_parity.py)::

    python tests/torch_train_reference.py OUTDIR --inputs crops.npz [--steps 3] [--seed 0]

``crops.npz`` holds ``low`` and ``high`` (N x 3 x H x W float32). Writes
``start.pth`` (the weights before the first step), ``end.pth`` (after the last),
``losses.json`` (the loss of every step, computed before its update) and
``schedule.json`` (the release's MultiStepLR_Restart learning rates, see
:func:`release_schedule`).
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))  # the reference
from reference.torch_release import (ReleaseNet, make_optimizer, release_init,  # noqa: E402
                                     train_step)

# The release's LOL YAML (docs/design.md#training): lr halved at 20k, 40k, 60k, 80k, 100k of
# 500k iterations.
RELEASE_LOL_MILESTONES = [20_000, 40_000, 60_000, 80_000, 100_000]


class MultiStepLRRestart(torch.optim.lr_scheduler._LRScheduler):
    """The release's scheduler without restarts (its YAMLs set none): stepped once per
    iteration after the update; when the count it reaches is a milestone, every lr is
    multiplied by gamma (once per occurrence of that milestone)."""

    def __init__(self, optimizer, milestones, gamma):
        self.milestones = {m: milestones.count(m) for m in milestones}
        self.gamma = gamma
        super().__init__(optimizer)

    def get_lr(self):
        if self.last_epoch not in self.milestones:
            return [group["lr"] for group in self.optimizer.param_groups]
        factor = self.gamma ** self.milestones[self.last_epoch]
        return [group["lr"] * factor for group in self.optimizer.param_groups]


def release_schedule(iterations, milestones=RELEASE_LOL_MILESTONES, lr=2e-4, gamma=0.5):
    """The lr the release's loop uses at each 1-based step ``current_step`` in
    ``iterations`` (it calls ``optimize_parameters`` then ``update_learning_rate``)."""
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([param], lr=lr)
    sched = MultiStepLRRestart(opt, milestones, gamma)
    wanted, out = set(iterations), {}
    for step in range(1, max(iterations) + 1):
        if step in wanted:
            out[step] = opt.param_groups[0]["lr"]
        opt.step()  # no gradient: nothing changes, but torch expects step before the scheduler
        sched.step()
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--inputs", required=True)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--schedule-steps", type=int, nargs="*", default=[])
    args = ap.parse_args(argv)
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    out = Path(args.outdir)
    out.mkdir(parents=True, exist_ok=True)
    net = release_init(ReleaseNet(), args.seed).train()
    torch.save(net.state_dict(), out / "start.pth")
    with np.load(args.inputs) as crops:
        x_lq, x_hq = (torch.from_numpy(np.ascontiguousarray(crops[k], np.float32))
                      for k in ("low", "high"))
    opt = make_optimizer(net)
    losses = [train_step(net, opt, x_lq, x_hq) for _ in range(args.steps)]
    torch.save(net.state_dict(), out / "end.pth")
    (out / "losses.json").write_text(json.dumps(losses))
    if args.schedule_steps:
        sched = release_schedule(args.schedule_steps)
        (out / "schedule.json").write_text(json.dumps({str(k): v for k, v in sched.items()}))
    print(json.dumps({"losses": losses}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
