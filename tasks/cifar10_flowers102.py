"""The paper's stream (arXiv 2506.21374, Sec. 4): CIFAR-10, then Flowers102, full data at the
backbone's input size; and two variants of it."""

from clbench.streams import StreamSpec, TaskSpec

STREAMS = [
    StreamSpec(
        name="cifar10_flowers102",
        description="the paper's stream: CIFAR-10 then Flowers102 (official split), all data, backbone's input size",
        tasks=(TaskSpec("cifar10"), TaskSpec("flowers102")),
    ),
    # Flowers102 trained on its official train and val splits (2,040 images) instead of train alone
    # (1,020): the paper does not say which it used
    StreamSpec(
        name="cifar10_flowers102_trainval",
        description="CIFAR-10 then Flowers102 trained on train+val (2,040 images), all data, backbone's input size",
        tasks=(TaskSpec("cifar10"), TaskSpec("flowers102_trainval", name="flowers102")),
    ),
    # reversed
    StreamSpec(
        name="flowers102_cifar10",
        description="Flowers102 (official split) then CIFAR-10, all data, backbone's input size",
        tasks=(TaskSpec("flowers102"), TaskSpec("cifar10")),
    ),
]
