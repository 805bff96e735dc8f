"""Training machinery: the optimiser of SPEC section 5 and one training step."""
from .step import make_optimizer, train_step

__all__ = ["make_optimizer", "train_step"]
