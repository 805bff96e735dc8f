"""Training machinery: the optimiser, one step, the schedule and the loop
(docs/design.md#training)."""
from .optim import OPTIMIZERS, Adam, JittorAdam, OptimizerStateError, make_optimizer
from .schedule import BatchOrder, MultiStepSchedule
from .step import backward_mode, reversible_step, step_function, train_step
from .trainer import ResumeError, Trainer, train

__all__ = ["make_optimizer", "Adam", "JittorAdam", "OPTIMIZERS", "OptimizerStateError",
           "train_step", "reversible_step", "backward_mode", "step_function",
           "MultiStepSchedule", "BatchOrder", "Trainer", "train", "ResumeError"]
