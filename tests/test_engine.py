import pytest
import torch

from clbench.config import resolve_config, trained_strategy
from clbench.data.datasets import DataSource
from clbench.training.engine import RunRequest, run_experiment
from clbench.registry import get_stream
from clbench.strategy import Strategy


class BrokenSGD(torch.optim.SGD):
    def step(self, closure=None):
        raise RuntimeError("kernel exploded")


def broken_strategy():
    return Strategy(
        name="broken",
        description="fails in its first step",
        defaults={"lr": 0.1},
        make_optimizer=lambda backbone, head, lr, config: BrokenSGD(list(backbone.parameters()), lr=lr),
    )


def test_a_crash_while_training_is_recorded_as_failed():
    stream = get_stream("fashionmnist_mnist")
    strategy = broken_strategy()
    config = resolve_config(stream, strategy, [], smoke=True)
    record = run_experiment(RunRequest(stream, strategy, "efficientnet_lite0", 0, config, "cpu", DataSource()),
                            progress=False)
    assert record["status"] == "failed"
    assert record["error"] == "RuntimeError: kernel exploded"
    assert record["accuracy_matrix"] == [] and len(record["baseline_accuracy"]) == 2
    assert record["metrics"]["acc"] is None


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_smoke_run_on_gpu_completes():
    stream = get_stream("fashionmnist_mnist")
    from clbench.registry import get_strategy

    strategy = get_strategy("nanoadam")
    config = resolve_config(stream, strategy, [], smoke=True)
    record = run_experiment(RunRequest(stream, strategy, "efficientnet_lite0", 0, config, "cuda", DataSource()),
                            progress=False)
    assert record["status"] == "completed"
    assert record["effective"] == {"device": "cuda", "amp": True, "channels_last": True}


@pytest.mark.parametrize("strategy, drifts", [("frozen", False), ("adamw", True)])
def test_output_drift_is_zero_where_the_backbone_and_old_head_stay_and_positive_where_they_move(strategy, drifts):
    from clbench.registry import get_strategy

    stream, chosen = get_stream("fashionmnist_mnist"), get_strategy(strategy)
    config = resolve_config(stream, chosen, ["val_fraction=0"], smoke=True)
    record = run_experiment(RunRequest(stream, trained_strategy(chosen, config), "efficientnet_lite0", 0, config, "cpu",
                                       DataSource()), progress=False)
    assert record["status"] == "completed" and len(record["output_kl"]) == 2 and record["output_kl"][0] == []
    (kl,) = record["output_kl"][1]
    assert (kl > 1e-6) if drifts else (kl == 0.0)
    assert record["metrics"]["output_kl"] == kl


def test_each_epochs_validation_accuracy_is_recorded_without_changing_the_run(tmp_path, monkeypatch):
    from method_runs import method_run, tiny_weights

    from clbench.training import callbacks

    weights = tiny_weights(tmp_path)
    record = method_run(weights, "adamw", "epochs=3", "batch_size=8")
    per_epoch = record["val_epoch_accuracy"]
    assert [len(task) for task in per_epoch] == [3, 3]
    assert [task[-1] for task in per_epoch] == [record["val_accuracy_matrix"][i][i] for i in range(2)]
    assert len({value for task in per_epoch for value in task}) > 1  # it does follow training
    # the evaluation pass leaves every module's mode and the random state as training needs them
    monkeypatch.setattr(callbacks.EpochValidation, "after_training_epoch", lambda self, strategy, **kwargs: None)
    unvalidated = method_run(weights, "adamw", "epochs=3", "batch_size=8")
    for key in ("accuracy_matrix", "val_accuracy_matrix", "metrics", "drift_per_layer_l2", "output_kl"):
        assert record[key] == unvalidated[key], key
