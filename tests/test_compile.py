"""compile=true (torch.compile of the backbone) on CPU: the same numbers as eager, within float error."""

import copy

import pytest
import timm
import torch
from method_runs import BACKBONE, method_run, tiny_weights

pytestmark = pytest.mark.slow  # compiling takes a minute or more on CPU


def test_the_compiled_backbone_computes_the_eager_outputs_and_gradients():
    torch.manual_seed(0)
    eager = timm.create_model(BACKBONE, pretrained=False, num_classes=0)
    compiled = copy.deepcopy(eager)
    compiled.compile()
    x = torch.randn(8, 3, 32, 32)
    outputs = []
    for model in (eager, compiled):
        output = model(x)
        output.square().sum().backward()
        outputs.append(output.detach())
    assert torch.allclose(outputs[1], outputs[0], atol=1e-4)
    # Relative to the largest gradient: some are zero but for float error (a batch-norm bias that
    # the next train-mode batch norm cancels), where a relative tolerance cannot hold.
    scale = max(p.grad.abs().max() for p in eager.parameters())
    for (name, a), (_, b) in zip(eager.named_parameters(), compiled.named_parameters()):
        assert torch.allclose(a.grad, b.grad, rtol=0, atol=1e-4 * scale), name
    assert [n for n, _ in eager.named_parameters()] == [n for n, _ in compiled.named_parameters()]


def test_a_compiled_run_gets_the_eager_runs_accuracies(tmp_path):
    weights = tiny_weights(tmp_path)
    eager = method_run(weights, "adamw", "val_fraction=0")
    compiled = method_run(weights, "adamw", "val_fraction=0", "compile=true")
    assert compiled["status"] == "completed", compiled["error"]
    one_image = 100 / 40  # 4 test images of each of 10 classes: float error may flip one prediction
    for eager_row, compiled_row in zip(eager["accuracy_matrix"], compiled["accuracy_matrix"], strict=True):
        assert compiled_row == pytest.approx(eager_row, abs=one_image)
    assert compiled["metrics"]["drift_l2"] == pytest.approx(eager["metrics"]["drift_l2"], rel=1e-3)
