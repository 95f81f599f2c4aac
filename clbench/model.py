"""Task-incremental model: one shared backbone, one classification head per task."""

from __future__ import annotations

import torch
from avalanche.models import MultiTaskModule
from torch import nn


class TaskHeadsModel(MultiTaskModule):
    """A backbone (timm model without classifier) and a linear head per task, chosen by task label.

    Heads for every task of the stream exist from the start, so the baseline row (accuracy before
    any training) is measured with the same fresh heads that training later starts from.
    """

    def __init__(self, backbone: nn.Module, num_classes_per_task: list[int]):
        super().__init__()
        self.backbone = backbone
        self.heads = nn.ModuleList(nn.Linear(backbone.num_features, n) for n in num_classes_per_task)

    def forward_single_task(self, x: torch.Tensor, task_label: int) -> torch.Tensor:
        return self.heads[task_label](self.backbone(x))

    def forward(self, x: torch.Tensor, task_labels) -> torch.Tensor:
        if isinstance(task_labels, int):
            return self.forward_single_task(x, task_labels)
        tasks = torch.unique(task_labels)
        if len(tasks) == 1:
            return self.forward_single_task(x, int(tasks[0]))
        features = self.backbone(x)
        out = features.new_zeros(x.shape[0], max(h.out_features for h in self.heads))
        for task in tasks.tolist():
            rows = task_labels == task
            out[rows, : self.heads[task].out_features] = self.heads[task](features[rows])
        return out
