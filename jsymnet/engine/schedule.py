"""MultiStep learning-rate schedule and the deterministic batch order (docs/design.md#training).

Both are pure functions of the iteration count, so a resumed run needs only
the iteration to continue exactly where it stopped; so is the batch itself
(:func:`load_batch`), whose crops the dataset seeds with (seed, epoch, index).
"""
import numpy as np

# Tag that keeps the shuffle stream apart from the augmentation streams
# (the dataset seeds those with (seed, epoch, index)).
SHUFFLE_STREAM = 0x5348


class MultiStepSchedule:
    """lr = base * gamma ** (number of milestones reached), in epochs or iterations.

    ``unit: epoch`` counts finished epochs (the paper: LOL 250 epochs, halved
    every 100); ``unit: iter`` counts finished iterations (the release YAMLs).
    ``iters_per_epoch`` converts epochs to iterations.
    """

    def __init__(self, schedule_cfg, base_lr, iters_per_epoch):
        if iters_per_epoch < 1:
            raise ValueError("iters_per_epoch must be at least 1")
        self.unit = schedule_cfg["unit"]
        self.milestones = list(schedule_cfg["milestones"])
        self.gamma = schedule_cfg["gamma"]
        self.total = schedule_cfg["total"]
        self.base_lr = base_lr
        self.iters_per_epoch = iters_per_epoch

    @property
    def total_iters(self):
        """Iterations the whole run takes."""
        return self.total * (self.iters_per_epoch if self.unit == "epoch" else 1)

    def position(self, iteration):
        """Epochs (or iterations) finished before step ``iteration`` (0-based)."""
        return iteration // self.iters_per_epoch if self.unit == "epoch" else iteration

    def lr_at(self, iteration):
        """The learning rate of step ``iteration`` (0-based)."""
        pos = self.position(iteration)
        return self.base_lr * self.gamma ** sum(1 for m in self.milestones if pos >= m)

    def state_dict(self):
        return {"unit": self.unit, "milestones": self.milestones, "gamma": self.gamma,
                "total": self.total, "base_lr": self.base_lr,
                "iters_per_epoch": self.iters_per_epoch}


class BatchOrder:
    """Which pairs make up batch ``b`` of epoch ``e``: a seeded permutation per epoch.

    ``batch_size`` is the global batch. Under MPI each of ``world_size``
    ranks takes its own contiguous slice of every global batch (so the
    global batch is the same whatever the number of processes). Incomplete
    last batches are dropped.
    """

    def __init__(self, num_items, batch_size, seed, rank=0, world_size=1):
        if batch_size % world_size:
            raise ValueError(f"train.batch_size ({batch_size}) must be a multiple of the number "
                             f"of MPI processes ({world_size}); each process takes an equal share")
        if num_items < batch_size:
            raise ValueError(f"the training set has {num_items} pairs, fewer than one batch of "
                             f"{batch_size}; lower train.batch_size")
        self.num_items = num_items
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.per_rank = batch_size // world_size
        self.batches_per_epoch = num_items // batch_size
        self._cache = (None, None)

    def permutation(self, epoch):
        if self._cache[0] != epoch:
            rng = np.random.default_rng([self.seed, epoch, SHUFFLE_STREAM])
            self._cache = (epoch, rng.permutation(self.num_items))
        return self._cache[1]

    def locate(self, iteration):
        """(epoch, batch index within the epoch) of global step ``iteration``."""
        return divmod(iteration, self.batches_per_epoch)

    def indices(self, iteration):
        """(epoch, this rank's item indices) for global step ``iteration``."""
        epoch, b = self.locate(iteration)
        perm = self.permutation(epoch)
        start = b * self.batch_size + self.rank * self.per_rank
        return epoch, [int(i) for i in perm[start:start + self.per_rank]]

    def state_dict(self):
        return {"num_items": self.num_items, "batch_size": self.batch_size, "seed": self.seed,
                "world_size": self.world_size, "shuffle_stream": SHUFFLE_STREAM}


def load_batch(dataset, order, iteration):
    """(low, high): this rank's share of global step ``iteration`` from ``dataset``
    (items (low, high) 3 x H x W) in :class:`BatchOrder` ``order``, stacked as
    N x 3 x H x W float32 arrays. A dataset with an ``epoch_id`` is told the epoch first:
    it seeds each item's crop and flips with (seed, epoch, index)."""
    epoch, idx = order.indices(iteration)
    if hasattr(dataset, "epoch_id"):
        dataset.epoch_id = epoch
    items = [dataset[i] for i in idx]
    low = np.stack([np.asarray(a, np.float32) for a, _ in items])
    high = np.stack([np.asarray(b, np.float32) for _, b in items])
    return low, high
