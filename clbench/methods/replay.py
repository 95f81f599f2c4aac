"""Experience replay: a class-balanced buffer of every finished task's training examples, held on
the training device and drawn into every training batch of later tasks.

Written here rather than taken from Avalanche: its ReplayPlugin swaps the strategy's data loader for
a DataLoader over CPU datasets, which would bypass clbench's device-resident batches and the
shuffling order that checkpoints resume.
"""

from __future__ import annotations

import torch
from avalanche.training.plugins import SupervisedPlugin

from clbench.data.batches import mixed_task_batch, parts_at, starts
from clbench.methods.state import model_device


def class_balanced(labels: torch.Tensor, count: int) -> torch.Tensor:
    """Indices of `count` examples drawn at random (torch's global generator), as equally from every
    class as the counts allow; a class with too few examples gives all it has."""
    classes = labels.unique()
    chosen = []
    for i, cls in enumerate(classes.tolist()):
        quota = count // len(classes) + (i < count % len(classes))
        members = (labels == cls).nonzero().flatten()
        chosen.append(members[torch.randperm(len(members))[:quota].to(members.device)])
    return torch.cat(chosen).sort().values


class ExperienceReplay(SupervisedPlugin):
    """After each task, `per_task` of its training examples join the buffer (class-balanced); every
    training batch of a later task gets `batch_size` more examples drawn uniformly from the buffer,
    each trained with its own label through its own task's head."""

    def __init__(self, per_task: int, batch_size: int):
        super().__init__()
        if per_task < 0 or batch_size < 1:
            raise ValueError(f"buffer_per_task must be at least 0 and replay_batch_size at least 0 (0: batch_size), "
                             f"got {per_task} and {batch_size}")
        self.per_task, self.batch_size = per_task, batch_size
        self.buffer: list[tuple[torch.Tensor, torch.Tensor, int]] = []  # (images, labels, task) per finished task
        self.offsets = starts(self.buffer)  # where each task's examples begin in the buffer

    def after_training_exp(self, strategy, **kwargs):
        task = strategy.experience.current_experience
        images, labels = strategy.data_on_device(task, "train")
        keep = class_balanced(labels, self.per_task)
        self.buffer.append((images[keep], labels[keep], task))
        self.offsets = starts(self.buffer)

    def before_training_iteration(self, strategy, **kwargs):
        held = int(self.offsets[-1])
        if held == 0:
            return
        drawn = torch.randint(held, (self.batch_size,))
        current = (*strategy.mbatch[:2], strategy.experience.current_experience)
        strategy.mbatch = mixed_task_batch([current, *parts_at(self.buffer, self.offsets, drawn)],
                                           strategy.model.image_input)

    def state_dict(self) -> dict:
        return {"buffer": [{"images": images, "labels": labels, "task": task} for images, labels, task in self.buffer]}

    def load_state_dict(self, state: dict, model) -> None:
        device = model_device(model)
        self.buffer = [(part["images"].to(device), part["labels"].to(device), part["task"]) for part in state["buffer"]]
        self.offsets = starts(self.buffer)
