"""GaLore (Zhao et al., arXiv 2403.03507) through galore-torch, for any model.

galore-torch's AdamW projects the gradient of every parameter in a group that has a "rank" key
into a low-rank subspace (refreshed by SVD every `update_proj_gap` steps) and runs Adam there.
This adds what it lacks: parameter groups built from a model, rank checks, and convolution
kernels, projected as out x (in * kh * kw) matrices, as they are in the literature on GaLore for
CNNs (galore-torch itself handles only 2-D tensors).
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn

from clbench.optim.chunks import flat_like, flat_view
from clbench.quiet import import_quietly
from clbench.optim.common import check_lr, check_positive_int, check_trainable, closure_loss

_galore = import_quietly("galore_torch", "galore-torch")
_GaLoreProjector = import_quietly("galore_torch.galore_projector", "galore-torch").GaLoreProjector


def matrix_shape(param: torch.Tensor) -> tuple[int, int]:
    return param.shape[0], param[0].numel()


def galore_param_groups(model: nn.Module, rank: int, update_proj_gap: int = 200, scale: float = 1.0,
                        proj_type: str = "std", extra_dense: list | None = None) -> list[dict]:
    """Projected group: weights of 2 or more dimensions whose matrix is larger than `rank` on both
    sides (projecting smaller ones saves nothing). Dense group: the rest, plus `extra_dense`."""
    projected, dense = [], list(extra_dense or [])
    for param in model.parameters():
        if param.requires_grad:
            fits = param.dim() >= 2 and min(matrix_shape(param)) > rank
            (projected if fits else dense).append(param)
    groups = [{"params": dense}, {"params": projected, "rank": rank, "update_proj_gap": update_proj_gap,
                                  "scale": scale, "proj_type": proj_type}]
    return [group for group in groups if group["params"]]


class GaLoreAdamW(_galore.GaLoreAdamW):
    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-6,
                 weight_decay: float = 0.0):
        check_lr(lr)
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, no_deprecation_warning=True)
        check_trainable(self.param_groups)
        for group in self.param_groups:
            if "rank" in group:
                check_positive_int("rank", group["rank"])
                check_positive_int("update_proj_gap", group["update_proj_gap"])
                for param in group["params"]:
                    if param.dim() < 2 or group["rank"] > min(matrix_shape(param)):
                        raise ValueError(f"GaLore rank={group['rank']} is larger than a parameter of shape "
                                         f"{tuple(param.shape)}; lower rank or train that parameter densely")

    def state_dict(self) -> dict:
        """As torch's, with each projector as a plain dict: checkpoints load with weights_only=True."""
        packed = super().state_dict()
        packed["state"] = {index: {key: vars(value).copy() if key == "projector" else value
                                   for key, value in state.items()}
                           for index, state in packed["state"].items()}
        return packed

    def load_state_dict(self, state_dict: dict) -> None:
        state_dict = {**state_dict, "state": {index: dict(state) for index, state in state_dict["state"].items()}}
        projectors = {index: state.pop("projector") for index, state in state_dict["state"].items()
                      if "projector" in state}
        super().load_state_dict(state_dict)
        for index, fields in projectors.items():
            param = self._param_by_index(index)
            projector = _GaLoreProjector(fields["rank"])
            vars(projector).update(fields)
            if projector.ortho_matrix is not None:
                projector.ortho_matrix = projector.ortho_matrix.to(param.device)
            self.state[param]["projector"] = projector

    def _param_by_index(self, index: int) -> torch.Tensor:
        return [p for group in self.param_groups for p in group["params"]][index]

    @torch.no_grad()
    def step(self, closure=None):
        loss = closure_loss(closure)
        with _kernels_as_matrices([p for g in self.param_groups if "rank" in g for p in g["params"]]):
            super().step()
        return loss


@contextmanager
def _kernels_as_matrices(params: list[torch.Tensor]):
    """Show galore-torch every projected tensor of more than 2 dimensions, and its gradient, as a
    2-D view of the same memory for the duration of a step."""
    reshaped = [(p, p.data, p.grad) for p in params if p.dim() > 2 and p.grad is not None]
    for p, data, grad in reshaped:
        p.data = flat_view(data).view(data.shape[0], -1)
        p.grad = flat_like(grad, data).view(data.shape[0], -1)
    try:
        yield
    finally:
        for p, data, grad in reshaped:
            p.data, p.grad = data, grad
