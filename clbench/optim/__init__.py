"""Optimizers of clbench; each is a plain torch.optim.Optimizer usable outside clbench."""

from clbench.optim.nanoadam import NanoAdam

__all__ = ["NanoAdam"]
