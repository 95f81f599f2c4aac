"""CIFAR-10, then CIFAR-100 (100 classes as one task)."""

from clbench.streams import StreamSpec, TaskSpec

STREAM = StreamSpec(
    name="cifar10_cifar100",
    description="CIFAR-10 then CIFAR-100, all data, backbone's input size",
    tasks=(TaskSpec("cifar10"), TaskSpec("cifar100")),
)
