"""What clbench.optim.state counts as an optimizer's memory."""

import torch

from clbench.optim.state import bytes_beside_state, optimizer_state_bytes


class Holder:
    def __init__(self, **tensors):
        vars(self).update(tensors)


def test_memory_beside_the_state_counts_each_storage_once_and_neither_state_nor_parameters():
    param = torch.nn.Parameter(torch.zeros(10))
    optimizer = torch.optim.SGD([param], lr=0.1)
    flat = torch.zeros(6)
    optimizer.state[param] = {"moment": flat[:4], "other": flat[4:]}
    scratch = torch.zeros(5, dtype=torch.float64)
    holders = [Holder(state=flat, views=[flat[:4]], parameters=[param], scratch=scratch,
                      scratch_views=[scratch[:2], scratch[2:]], index=torch.zeros(3, dtype=torch.int32))]
    assert optimizer_state_bytes(optimizer) == 6 * 4
    assert bytes_beside_state(optimizer, holders) == 5 * 8 + 3 * 4
