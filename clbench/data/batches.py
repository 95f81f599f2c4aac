"""Mini-batches straight from tensors held on the training device, in place of a DataLoader.

Data sets are small uint8 tensors (CIFAR-10's training set is 150 MB), so they are moved to the
device once and every batch is a slice of them: no per-sample Python, no host-to-device copy per
step. Shuffling draws from a generator seeded with the run's seed.
"""

from __future__ import annotations

import math

import torch


class OneTaskBatch(list):
    """[images, labels, task labels] of one task's examples, with the task known on the host, so
    that the model and the loss need not read the task labels back from the device."""

    def __init__(self, tensors: list[torch.Tensor], task: int):
        super().__init__(tensors)
        self.task = task


class TensorBatches:
    """[images, labels, task labels] batches of `batch_size` over tensors already on `images.device`."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, task: int, batch_size: int,
                 generator: torch.Generator | None = None):
        self.images, self.labels, self.task = images, labels, task
        self.batch_size = batch_size
        self.generator = generator  # None: in order (evaluation)
        self._skip = 0

    def skip_next(self, batches: int) -> None:
        """The next pass draws its order as usual but starts after `batches` batches (resuming an epoch)."""
        self._skip = batches

    def __len__(self) -> int:
        return math.ceil(len(self.labels) / self.batch_size)

    def __iter__(self):
        n = len(self.labels)
        order = torch.arange(n) if self.generator is None else torch.randperm(n, generator=self.generator)
        order, self._skip = order[self._skip * self.batch_size:], 0
        if not len(order):
            return  # resumed after the epoch's last step (split would yield one empty batch)
        for batch in order.to(self.images.device).split(self.batch_size):
            labels = self.labels[batch]
            yield OneTaskBatch([self.images[batch], labels, torch.full_like(labels, self.task)], self.task)


def mixed_task_batch(parts: list[tuple[torch.Tensor, torch.Tensor, int]], preprocess) -> list[torch.Tensor]:
    """One [images, labels, task labels] batch from (images, labels, task) parts of several tasks.
    Parts whose images have one shape are concatenated as they are; otherwise each part goes through
    `preprocess` (the model's ImageInput) first, as tasks may differ in size and channels."""
    parts = [part for part in parts if len(part[1])]
    same_shape = len({part[0].shape[1:] for part in parts}) == 1
    images = [part[0] if same_shape else preprocess(part[0]) for part in parts]
    tasks = [torch.full_like(labels, task) for _, labels, task in parts]
    return [torch.cat(images), torch.cat([part[1] for part in parts]), torch.cat(tasks)]


def starts(parts: list[tuple[torch.Tensor, ...]]) -> torch.Tensor:
    """Where each part begins in the parts' concatenated index space, and after the last, its end."""
    return torch.tensor([0, *[len(part[1]) for part in parts]]).cumsum(0)


def parts_at(parts: list[tuple[torch.Tensor, torch.Tensor, int]], offsets: torch.Tensor,
             drawn: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor, int]]:
    """The (images, labels, task) rows of `parts` at indices `drawn` of their concatenation
    (`offsets` from starts()), part by part."""
    part_of = torch.searchsorted(offsets, drawn, right=True) - 1
    return [(images[rows], labels[rows], task) for i, (images, labels, task) in enumerate(parts)
            for rows in [(drawn[part_of == i] - offsets[i]).to(images.device)]]


class JointBatches:
    """Batches over the union of every task's examples (joint training), shuffled together: each
    batch mixes tasks in proportion to their sizes, every example with its own task label."""

    def __init__(self, tasks: list[tuple[torch.Tensor, torch.Tensor]], batch_size: int, generator: torch.Generator,
                 preprocess):
        self.tasks = [(images, labels, task) for task, (images, labels) in enumerate(tasks)]
        self.batch_size, self.generator, self.preprocess = batch_size, generator, preprocess
        self.offsets = starts(self.tasks)
        self._skip = 0

    def skip_next(self, batches: int) -> None:
        self._skip = batches

    def __len__(self) -> int:
        return math.ceil(int(self.offsets[-1]) / self.batch_size)

    def __iter__(self):
        order = torch.randperm(int(self.offsets[-1]), generator=self.generator)
        order, self._skip = order[self._skip * self.batch_size:], 0
        if not len(order):
            return  # resumed after the epoch's last step
        for batch in order.split(self.batch_size):
            yield mixed_task_batch(parts_at(self.tasks, self.offsets, batch), self.preprocess)
