"""The PyTorch side of ``benchmarks/benchmark.py``: run by path, never imported.

    python benchmarks/reference/bench_torch.py '{"case": "enhance", ...}'

Builds the reference release generator (torch_release.py) with seeded random
weights, saves them where the Jittor worker loads them (so both run the same
network on the same inputs), then serves runs as bench_protocol describes.
"""
import json
import sys
from pathlib import Path

import numpy as np
import torch

import bench_protocol as proto  # this file's folder is sys.path[0]
import torch_release as ref


def main(spec):
    if spec.get("malloc") == "tuned":  # jsymnet's allocator settings, from their own folder
        sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "jsymnet" / "utils"))
        import malloc_tuning
        malloc_tuning.tune()
    torch.set_num_threads(spec["threads"])
    torch.manual_seed(0)
    cuda = spec["device"] == "cuda"
    dev = torch.device("cuda" if cuda else "cpu")
    net = ref.randomise(ref.ReleaseNet(), seed=spec["seed"])
    torch.save(net.state_dict(), spec["weights"])
    net = net.to(dev)
    arrays = [torch.from_numpy(a).to(dev) for a in proto.inputs(spec["case"], spec["shape"])]
    sync = torch.cuda.synchronize if cuda else None

    if spec["case"] == "enhance":
        net.eval()

        def run():
            with proto.Stopwatch(sync) as w, torch.no_grad():
                out = net(arrays[0], rev=True)
            run.last = out
            return w.seconds, None

        def save_output(path):
            if not hasattr(run, "last"):
                run()
            np.save(path, run.last.float().cpu().numpy())
    else:
        net.train()
        opt = ref.make_optimizer(net)

        def run():
            with proto.Stopwatch(sync) as w:
                loss = ref.train_step(net, opt, *arrays, accum=spec["accum"])
            return w.seconds, loss

        save_output = None
    def final():
        return {"peak_gpu_gb": torch.cuda.max_memory_allocated() / 2 ** 30} if cuda else {}

    proto.serve(run, spec["warmup"], spec.get("output"), save_output, final)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
