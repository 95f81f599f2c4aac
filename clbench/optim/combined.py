"""Several optimizers over disjoint parameters acting as one torch.optim.Optimizer, for a training
loop, its learning-rate schedule and its checkpoints that know only one."""

from __future__ import annotations

import torch
from torch.optim import Optimizer


class CombinedOptimizer(Optimizer):
    """Steps, zeroes, schedules and saves `parts` together. `param_groups` is the parts' groups in
    order (the same dicts, so a scheduler's change of "lr" reaches the part), `state` their states
    merged; other attributes (NanoAdam's mask_refreshes, say) are the first part's."""

    def __init__(self, *parts: Optimizer):
        # Optimizer.__init__ is not called: the parts hold the parameters, their groups and state
        self.parts = parts
        self.defaults = parts[0].defaults

    @property
    def param_groups(self) -> list[dict]:
        return [group for part in self.parts for group in part.param_groups]

    @property
    def state(self) -> dict:
        return {param: value for part in self.parts for param, value in part.state.items()}

    @torch.no_grad()
    def step(self, closure=None):
        if closure is not None:
            raise ValueError("CombinedOptimizer.step takes no closure: each part would evaluate it again")
        for part in self.parts:
            part.step()

    def zero_grad(self, set_to_none: bool = True) -> None:
        for part in self.parts:
            part.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict:
        return {"parts": [part.state_dict() for part in self.parts]}

    def load_state_dict(self, state_dict: dict) -> None:
        for part, saved in zip(self.parts, state_dict["parts"], strict=True):
            part.load_state_dict(saved)

    def __getattr__(self, name: str):
        if name == "parts":  # not set yet (unpickling): no recursion through the first part
            raise AttributeError(name)
        return getattr(self.parts[0], name)

    def __repr__(self) -> str:
        return f"CombinedOptimizer({', '.join(type(part).__name__ for part in self.parts)})"
