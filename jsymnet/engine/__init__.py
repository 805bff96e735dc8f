"""Training machinery of SPEC section 5: the optimiser, one step, the schedule and the loop."""
from .schedule import BatchOrder, MultiStepSchedule
from .step import make_optimizer, train_step
from .trainer import ResumeError, Trainer, train

__all__ = ["make_optimizer", "train_step", "MultiStepSchedule", "BatchOrder", "Trainer",
           "train", "ResumeError"]
