"""Task-incremental model: one shared backbone, one classification head per task."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from avalanche.models import MultiTaskModule
from torch import nn


class ImageInput(nn.Module):
    """uint8 images (N, H, W) or (N, H, W, C) -> float (N, 3, size, size), resized (bilinear,
    antialiased) and normalised for the backbone. Runs per batch on the model's device, so data
    sets stay compact uint8 tensors at their own resolution. With `augment`, training batches are
    also flipped horizontally (half of them) and shifted by up to size/8 pixels (zero fill)."""

    def __init__(self, size: int, mean, std, augment: bool = False):
        super().__init__()
        self.size = size
        self.augment = augment
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.is_floating_point():
            return images  # already through this layer: a batch mixing tasks (data.batches.mixed_task_batch)
        x = images.unsqueeze(-1) if images.dim() == 3 else images
        x = x.permute(0, 3, 1, 2).float().div_(255)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if x.shape[-2:] != (self.size, self.size):
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False, antialias=True)
        x = (x - self.mean.float()) / self.std.float()
        if self.augment and self.training:
            x = flip_and_shift(x, max_shift=max(1, self.size // 8))
        return x.to(self.mean.dtype).contiguous()  # in the model's dtype: a strategy may train it in bf16


def flip_and_shift(x: torch.Tensor, max_shift: int) -> torch.Tensor:
    """Each image flipped horizontally with probability 1/2 and shifted by whole pixels in
    [-max_shift, max_shift] along both axes, the uncovered border filled with zeros."""
    n, _, height, width = x.shape
    flip = torch.rand(n, device=x.device) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    shifts = torch.randint(-max_shift, max_shift + 1, (n, 2), device=x.device)
    theta = torch.zeros(n, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0] = theta[:, 1, 1] = 1
    theta[:, 0, 2] = shifts[:, 0] * 2 / width
    theta[:, 1, 2] = shifts[:, 1] * 2 / height
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="nearest", padding_mode="zeros", align_corners=False)


class TaskHeadsModel(MultiTaskModule):
    """Input preprocessing, a backbone (timm model without classifier) and a linear head per task,
    chosen by task label.

    Heads for every task of the stream exist from the start, so the baseline row (accuracy before
    any training) is measured with the same fresh heads that training later starts from.
    """

    def __init__(self, backbone: nn.Module, num_classes_per_task: list[int], image_input: nn.Module | None = None):
        super().__init__()
        self.image_input = image_input or nn.Identity()
        self.backbone = backbone
        self.heads = nn.ModuleList(nn.Linear(backbone.num_features, n) for n in num_classes_per_task)

    def forward_single_task(self, x: torch.Tensor, task_label: int) -> torch.Tensor:
        return self.heads[task_label](self.backbone(self.image_input(x)))

    def forward_all_tasks(self, x: torch.Tensor) -> dict[int, torch.Tensor]:
        """Every head's output, from one pass through the backbone (what LwF distils)."""
        features = self.backbone(self.image_input(x))
        return {task: head(features) for task, head in enumerate(self.heads)}

    def forward(self, x: torch.Tensor, task_labels) -> torch.Tensor:
        """A batch of one task's examples (task_labels an int or all equal) gets that task's head's
        output; a mixed batch (replay, joint training) gets each row's own head's output in its
        first columns, zeros after (see TaskIncrementalTemplate.criterion); None: forward_all_tasks."""
        if task_labels is None:
            return self.forward_all_tasks(x)
        if isinstance(task_labels, int):
            return self.forward_single_task(x, task_labels)
        tasks = torch.unique(task_labels)
        if len(tasks) == 1:
            return self.forward_single_task(x, int(tasks[0]))
        features = self.backbone(self.image_input(x))
        out = features.new_zeros(x.shape[0], max(h.out_features for h in self.heads))
        for task in tasks.tolist():
            rows = task_labels == task
            out[rows, : self.heads[task].out_features] = self.heads[task](features[rows])
        return out
