"""The paper's stream with Flowers102 trained on its official train and val splits (2,040 images)
instead of train alone (1,020): the paper does not say which it used."""

from clbench.streams import StreamSpec, TaskSpec

STREAM = StreamSpec(
    name="cifar10_flowers102_trainval",
    description="CIFAR-10 then Flowers102 trained on train+val (2,040 images), all data, backbone's input size",
    tasks=(TaskSpec("cifar10"), TaskSpec("flowers102_trainval", name="flowers102")),
)
