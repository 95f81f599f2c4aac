"""The paper's stream reversed: Flowers102, then CIFAR-10."""

from clbench.streams import StreamSpec, TaskSpec

STREAM = StreamSpec(
    name="flowers102_cifar10",
    description="Flowers102 (official split) then CIFAR-10, all data, backbone's input size",
    tasks=(TaskSpec("flowers102"), TaskSpec("cifar10")),
)
