"""Optimizers of clbench; each is a plain torch.optim.Optimizer usable outside clbench."""

from clbench.optim.microadam import MicroAdam
from clbench.optim.nanoadam import NanoAdam

__all__ = ["MicroAdam", "NanoAdam"]
