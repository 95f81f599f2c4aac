"""Mini-batches straight from tensors held on the training device, in place of a DataLoader.

Data sets are small uint8 tensors (CIFAR-10's training set is 150 MB), so they are moved to the
device once and every batch is a slice of them: no per-sample Python, no host-to-device copy per
step. Shuffling draws from a generator seeded with the run's seed.
"""

from __future__ import annotations

import math

import torch


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
        for batch in order.to(self.images.device).split(self.batch_size):
            labels = self.labels[batch]
            yield [self.images[batch], labels, torch.full_like(labels, self.task)]
