"""5-datasets (Ebrahimi et al. 2020) with KMNIST in place of notMNIST, which torchvision does not offer."""

from clbench.streams import StreamSpec, TaskSpec

STREAM = StreamSpec(
    name="five_datasets",
    description="CIFAR-10, MNIST, SVHN, Fashion-MNIST, KMNIST (5-datasets, KMNIST for notMNIST)",
    tasks=tuple(TaskSpec(name) for name in ("cifar10", "mnist", "svhn", "fashion_mnist", "kmnist")),
    image_size=32,
)
