import pytest
import torch

from clbench.training import metrics

# Three tasks, values picked so that every metric differs from its common mis-definitions.
R = [
    [90.0, 12.0, 8.0],
    [70.0, 80.0, 11.0],
    [60.0, 75.0, 95.0],
]
B = [10.0, 9.0, 10.0]


def test_average_accuracy_is_mean_of_last_row():
    assert metrics.average_accuracy(R) == pytest.approx((60 + 75 + 95) / 3)


def test_backward_transfer_compares_with_diagonal():
    assert metrics.backward_transfer(R) == pytest.approx(((60 - 90) + (75 - 80)) / 2)


def test_forward_transfer_uses_row_before_each_task_and_baseline():
    assert metrics.forward_transfer(R, B) == pytest.approx(((12 - 9) + (11 - 10)) / 2)


def test_forgetting_uses_max_over_earlier_rows():
    peaks_later = [[50.0, 5.0, 1.0], [80.0, 70.0, 2.0], [40.0, 65.0, 90.0]]
    # task 0 peaks after task 1 (80), not right after training on it (50)
    assert metrics.forgetting(peaks_later) == pytest.approx(((80 - 40) + (70 - 65)) / 2)
    assert metrics.forgetting(R) == pytest.approx(((90 - 60) + (80 - 75)) / 2)


def test_plasticity_is_mean_of_diagonal():
    assert metrics.plasticity(R) == pytest.approx((90 + 80 + 95) / 3)


def test_single_task_has_no_transfer_metrics():
    m = metrics.stream_metrics([[88.0]], [11.0])
    assert m == {"acc": 88.0, "bwt": None, "fwt": None, "forgetting": None, "plasticity": 88.0}


def test_stream_metrics_rejects_non_square_matrix():
    with pytest.raises(ValueError):
        metrics.stream_metrics([[1.0, 2.0]], [0.0, 0.0])


def test_backbone_drift_global_per_layer_and_fraction_changed():
    initial = {"a": torch.zeros(4), "b": torch.ones(2, 2)}
    current = {"a": torch.tensor([3.0, 0.0, 0.0, 0.0]), "b": torch.tensor([[1.0, 1.0], [1.0, 5.0]])}
    drift = metrics.backbone_drift(initial, current)
    assert drift["per_layer_l2"] == {"a": pytest.approx(3.0), "b": pytest.approx(4.0)}
    assert drift["l2"] == pytest.approx(5.0)
    assert drift["fraction_changed"] == pytest.approx(2 / 8)


def test_mean_kl_is_zero_for_the_same_predictions_and_the_mean_of_each_examples_kl():
    import math

    from clbench.training.metrics import mean_kl

    reference = torch.tensor([[0.5, 0.5], [0.9, 0.1]]).log()
    now = torch.tensor([[0.25, 0.75], [0.9, 0.1]]).log()
    assert mean_kl(reference, reference) == 0.0
    first = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.75)
    assert math.isclose(mean_kl(reference, now), first / 2, rel_tol=1e-6)
