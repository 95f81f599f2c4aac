import torch

from clbench.data.batches import JointBatches, TensorBatches, mixed_task_batch
from clbench.training.model import ImageInput, flip_and_shift


def test_training_batches_cover_every_example_once_per_epoch_in_a_seeded_order():
    images, labels = torch.arange(10).view(10, 1, 1), torch.arange(10)
    batches = TensorBatches(images, labels, task=3, batch_size=4, generator=torch.Generator().manual_seed(0))
    epochs = [[b for b in batches] for _ in range(2)]
    assert len(batches) == 3 and [len(b[1]) for b in epochs[0]] == [4, 4, 2]
    orders = [torch.cat([b[1] for b in epoch]) for epoch in epochs]
    assert all(sorted(order.tolist()) == list(range(10)) for order in orders)
    assert not torch.equal(orders[0], orders[1]) and not torch.equal(orders[0], labels)
    assert all(torch.equal(b[0].view(-1), b[1]) and bool((b[2] == 3).all()) for b in epochs[0])
    again = TensorBatches(images, labels, 3, 4, torch.Generator().manual_seed(0))
    assert torch.equal(torch.cat([b[1] for b in again]), orders[0])


def test_evaluation_batches_keep_the_order():
    labels = torch.arange(5)
    assert torch.equal(torch.cat([b[1] for b in TensorBatches(labels.view(5, 1), labels, 0, 2)]), labels)


def test_joint_batches_mix_every_tasks_examples_once_per_epoch_with_their_task_labels():
    first = (torch.arange(6).view(6, 1, 1), torch.arange(6))
    second = (torch.arange(100, 104).view(4, 1, 1), torch.arange(100, 104))
    batches = JointBatches([first, second], 4, torch.Generator().manual_seed(0), preprocess=None)
    epoch = list(batches)
    assert len(batches) == len(epoch) == 3
    labels = torch.cat([b[1] for b in epoch])
    assert sorted(labels.tolist()) == [*range(6), *range(100, 104)]
    assert not torch.equal(labels, torch.cat([first[1], second[1]]))  # shuffled across tasks
    for images, labels, tasks in epoch:
        assert torch.equal(images.view(-1), labels) and torch.equal(tasks, (labels >= 100).long())


def test_a_batch_of_tasks_with_different_image_shapes_is_preprocessed_part_by_part():
    gray, colour = torch.zeros(2, 4, 4, dtype=torch.uint8), torch.zeros(3, 8, 8, 3, dtype=torch.uint8)
    labels = torch.tensor([1, 2]), torch.tensor([3, 4, 5])
    layer = ImageInput(6, (0.5,) * 3, (0.5,) * 3)
    images, got_labels, tasks = mixed_task_batch([(gray, labels[0], 0), (colour, labels[1], 1)], layer)
    assert images.shape == (5, 3, 6, 6) and images.is_floating_point()
    assert got_labels.tolist() == [1, 2, 3, 4, 5] and tasks.tolist() == [0, 0, 1, 1, 1]
    assert torch.equal(layer(images), images)  # the model's input layer passes them through
    same, _, _ = mixed_task_batch([(gray, labels[0], 0), (gray[:1], labels[0][:1], 1)], layer)
    assert same.dtype == torch.uint8 and same.shape == (3, 4, 4)  # one shape: concatenated as they are


def test_flip_and_shift_only_flips_and_translates():
    torch.manual_seed(0)
    x = torch.randn(16, 3, 8, 8)
    out = flip_and_shift(x, max_shift=1)
    for original, augmented in zip(x, out):
        candidates = []
        for image in (original, original.flip(-1)):
            padded = torch.nn.functional.pad(image, (1, 1, 1, 1))
            candidates += [padded[:, 1 + dy:9 + dy, 1 + dx:9 + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
        assert any(torch.equal(augmented, c) for c in candidates)
    assert not torch.equal(out, x)


def test_image_input_augments_only_in_training():
    images = torch.randint(0, 256, (4, 8, 8), dtype=torch.uint8)
    layer = ImageInput(8, (0.5,) * 3, (0.5,) * 3, augment=True)
    plain = ImageInput(8, (0.5,) * 3, (0.5,) * 3)
    layer.eval()
    assert torch.equal(layer(images), plain(images))
    layer.train()
    torch.manual_seed(1)
    assert not torch.equal(layer(images), plain(images))


def test_an_epoch_resumed_after_its_last_step_has_no_batch_left():
    batches = TensorBatches(torch.zeros(10, 2, 2, dtype=torch.uint8), torch.arange(10), 0, 4, torch.Generator())
    batches.skip_next(len(batches))
    assert list(batches) == []
    assert len(list(batches)) == 3  # the next epoch is whole again
