import torch
from torch import nn

from clbench.training.model import ImageInput, TaskHeadsModel


class Flatten(nn.Module):
    num_features = 12

    def forward(self, x):
        return x.flatten(1)


def test_each_sample_goes_through_its_own_task_head():
    torch.manual_seed(0)
    model = TaskHeadsModel(Flatten(), [3, 5])
    x = torch.randn(6, 3, 2, 2)
    labels = torch.tensor([0, 1, 1, 0, 1, 0])
    out = model(x, labels)
    assert out.shape == (6, 5)
    for task in (0, 1):
        rows = labels == task
        expected = model.heads[task](x[rows].flatten(1))
        torch.testing.assert_close(out[rows, : expected.shape[1]], expected)
    assert torch.all(out[labels == 0, 3:] == 0)


def test_single_task_batch_uses_that_head_only():
    model = TaskHeadsModel(Flatten(), [3, 5])
    x = torch.randn(4, 3, 2, 2)
    torch.testing.assert_close(model(x, torch.ones(4, dtype=torch.long)), model.heads[1](x.flatten(1)))


def test_image_input_follows_the_model_dtype():
    image_input = ImageInput(8, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    images = torch.randint(0, 256, (2, 8, 8, 3), dtype=torch.uint8)
    assert image_input(images).dtype == torch.float32
    assert image_input.to(torch.bfloat16)(images).dtype == torch.bfloat16
