"""What an optimizer's state costs in memory."""

import torch
from torch.optim import Optimizer


def optimizer_state_bytes(optimizer: Optimizer) -> int:
    """Bytes held by the tensors of the optimizer's per-parameter state."""
    return sum(
        value.numel() * value.element_size()
        for state in optimizer.state.values()
        for value in state.values()
        if isinstance(value, torch.Tensor)
    )
