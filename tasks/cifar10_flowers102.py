"""The paper's stream (arXiv 2506.21374, Sec. 4): CIFAR-10, then Flowers102, full data at the
backbone's input size."""

from clbench.streams import StreamSpec, TaskSpec

STREAM = StreamSpec(
    name="cifar10_flowers102",
    description="the paper's stream: CIFAR-10 then Flowers102 (official split), all data, backbone's input size",
    tasks=(TaskSpec("cifar10"), TaskSpec("flowers102")),
)
