"""Split CIFAR-100: 10 tasks of 10 classes, in a class order fixed by seed 1993 (as iCaRL and
most continual-learning code bases use)."""

import numpy as np

from clbench.streams import StreamSpec, TaskSpec

CLASS_ORDER = np.random.default_rng(1993).permutation(100).tolist()

STREAM = StreamSpec(
    name="split_cifar100",
    description="Split CIFAR-100: 10 tasks of 10 classes, class order fixed by seed 1993",
    tasks=tuple(TaskSpec("cifar100", classes=tuple(CLASS_ORDER[i:i + 10]), name=f"cifar100_{i // 10}")
                for i in range(0, 100, 10)),
)
