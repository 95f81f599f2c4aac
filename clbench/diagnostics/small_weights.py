"""The paper's diagnostic of why small weights matter (Sec. 2.1): during early fine-tuning of a
pretrained model, the weights with the largest gradients tend to be small-magnitude weights.

Per weight tensor (matrices and conv kernels of the backbone, and the task head) it measures
- the ratio r: median |w| of the top `top` fraction by |gradient|, divided by the largest |w| of
  the bottom `bottom` fraction by |gradient| (lower: stronger small-weight/large-gradient link);
- the overlap: the share of the `fraction` smallest weights that are also among the `fraction`
  largest gradients (a chance-level draw gives `fraction`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from clbench.data.batches import TensorBatches


@dataclass(frozen=True)
class LayerDiagnostic:
    name: str
    numel: int
    ratio_r: float
    overlap: float


def ratio_r(weight: torch.Tensor, grad: torch.Tensor, top: float = 1e-4, bottom: float = 0.8) -> float:
    w, g = weight.detach().abs().flatten().float(), grad.abs().flatten().float()
    n = w.numel()
    k_top = max(1, round(top * n))
    k_bottom = max(1, int(bottom * n))
    w_m = w[g.topk(k_top).indices].median()
    w_M = w[g.topk(k_bottom, largest=False).indices].max()
    return float(w_m / w_M) if w_M > 0 else math.inf


def small_weight_large_gradient_overlap(weight: torch.Tensor, grad: torch.Tensor, fraction: float = 0.01) -> float:
    w, g = weight.detach().abs().flatten().float(), grad.abs().flatten().float()
    k = max(1, round(fraction * w.numel()))
    small = torch.zeros(w.numel(), dtype=torch.bool)
    small[w.topk(k, largest=False).indices] = True
    return float(small[g.topk(k).indices].sum()) / k


def diagnosed_parameters(model: nn.Module) -> dict[str, nn.Parameter]:
    """Weight matrices and conv kernels: the tensors NanoAdam masks, plus the head."""
    return {name: p for name, p in model.named_parameters() if p.ndim >= 2}


def mean_gradient_magnitudes(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, steps: int,
                             batch_size: int, lr: float, seed: int) -> dict[str, torch.Tensor]:
    """Fine-tunes model on (images, labels) with AdamW for `steps` steps and returns each diagnosed
    parameter's |gradient| averaged over those steps."""
    parameters = diagnosed_parameters(model)
    totals = {name: torch.zeros_like(p, dtype=torch.float32) for name, p in parameters.items()}
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    batches = TensorBatches(images, labels, 0, batch_size, torch.Generator().manual_seed(seed))
    model.train()
    done = 0
    while done < steps:
        for x, y, _ in batches:
            optimizer.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(model(x, 0), y).backward()
            for name, p in parameters.items():
                totals[name] += p.grad.abs().float()
            optimizer.step()
            done += 1
            if done == steps:
                break
    return {name: total / steps for name, total in totals.items()}


def diagnose(weights: dict[str, torch.Tensor], grads: dict[str, torch.Tensor], top: float, bottom: float,
             fraction: float) -> list[LayerDiagnostic]:
    return [LayerDiagnostic(name, w.numel(), ratio_r(w, grads[name], top, bottom),
                            small_weight_large_gradient_overlap(w, grads[name], fraction))
            for name, w in weights.items()]
