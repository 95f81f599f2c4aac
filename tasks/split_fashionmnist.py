"""Split Fashion-MNIST: five tasks of two classes each, in the data set's class order, one head per
task. Five tasks of one data set (where the other offline streams shift between data sets), so a
strategy forgets through four later tasks, not one."""

from clbench.streams import StreamSpec, TaskSpec

CLASS_NAMES = ("tshirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot")

# 2 classes x 200 images, 3 epochs of batch 64 are 21 steps per task: a mask every 5 steps is 4 masks a task.
NANOADAM = {"mask_interval": 5}

STREAM = StreamSpec(
    name="split_fashionmnist",
    description="offline: Fashion-MNIST in 5 tasks of 2 classes (0-1, 2-3, ..., 8-9); 200/100 per class, 64 px",
    tasks=tuple(TaskSpec("fashion_mnist", classes=(i, i + 1), name=f"{CLASS_NAMES[i]}_{CLASS_NAMES[i + 1]}")
                for i in range(0, 10, 2)),
    image_size=64,
    train_per_class=200,
    test_per_class=100,
    strategy_settings={"nanoadam": NANOADAM},
)
