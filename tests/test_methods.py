"""The continual-learning methods (strategies/ewc.py, replay.py, ...) with the optimizers they train with."""

import copy

import pytest
import torch
import torch.nn.functional as F
from avalanche.training.plugins import SupervisedPlugin

from clbench.config import resolve_config
from clbench.errors import UsageError
from clbench.methods.compose import is_method
from clbench.methods.replay import ExperienceReplay, class_balanced
from clbench.registry import get_stream, get_strategy, strategies
from clbench.training.checkpoints import Checkpointing
from method_runs import method_run, stable, tiny_weights

METHODS = sorted(name for name, s in strategies().items() if is_method(s))
# the optimizers the methods are run with; NanoAdam's mask controls and LoRA (the other optimizer
# strategies, for the mechanism comparison) are run with one method each below
OPTIMIZERS = ["adamw", "adamw8bit", "galore", "microadam", "nanoadam", "sgd"]
# 54 training examples per task in batches of 8: 7 steps per task, so that penalties act
STEPS = ("batch_size=8",)


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return tiny_weights(tmp_path_factory.mktemp("weights"))


def test_the_methods_and_optimizers_are_the_ones_the_leaderboard_compares():
    assert METHODS == ["ewc", "ewc_online", "frozen", "joint", "l2sp", "lwf", "mas", "replay", "si"]
    others = sorted(name for name, s in strategies().items() if not is_method(s) and name not in OPTIMIZERS)
    assert others == ["dense_only", "large_mask", "lora", "random_fixed", "random_mask"]
    assert {optimizer for _, optimizer in PAIRS} == set(OPTIMIZERS)


@pytest.mark.parametrize("method, optimizer", [("ewc", "random_mask"), ("replay", "lora")])
def test_a_method_runs_with_a_mask_control_and_with_lora(weights, method, optimizer):
    record = method_run(weights, method, f"optimizer={optimizer}")
    assert record["status"] == "completed", record["error"]
    assert all(size > 0 for size in record["method_state_bytes"])


def test_a_method_takes_its_optimizers_settings():
    stream, ewc = get_stream("fashionmnist_mnist"), get_strategy("ewc")
    config = resolve_config(stream, ewc, [])
    assert config["optimizer"] == "adamw" and config["ewc_lambda"] == 1.0 and config["lr"] == [1e-4, 1e-4]
    config = resolve_config(stream, ewc, ["optimizer=nanoadam", "density=0.1", "ewc_lambda=5"])
    nanoadam = resolve_config(stream, get_strategy("nanoadam"), [])
    assert config["density"] == 0.1 and config["ewc_lambda"] == 5.0
    assert config["mask_interval"] == nanoadam["mask_interval"] == 20  # the stream's setting for NanoAdam
    assert config["lr"] == nanoadam["lr"]


@pytest.mark.parametrize("assignment, message", [("optimizer=adamx", "did you mean adamw"),
                                                 ("optimizer=ewc", "not an optimizer strategy"),
                                                 ("density=0.1", "unknown --set key 'density'")])
def test_a_bad_optimizer_or_a_setting_of_another_optimizer_is_refused(assignment, message):
    with pytest.raises(UsageError, match=message):
        resolve_config(get_stream("fashionmnist_mnist"), get_strategy("ewc"), [assignment])


# one combined run per method, the optimizers taken in turn so that each trains at least one method;
# what each method adds is tested on its own below, and the optimizers alone in test_cli.py
PAIRS = [(method, OPTIMIZERS[i % len(OPTIMIZERS)]) for i, method in enumerate(METHODS)]


@pytest.mark.slow
@pytest.mark.parametrize("method, optimizer", PAIRS)
def test_every_method_runs_with_an_optimizer_and_every_optimizer_with_a_method(weights, method, optimizer):
    record = method_run(weights, method, f"optimizer={optimizer}")
    assert record["status"] == "completed", record["error"]
    holds_state = method not in ("frozen", "joint")
    assert all((size > 0) == holds_state for size in record["method_state_bytes"])
    assert len(record["timing"]["train_s"]) == 2


def test_the_frozen_backbone_neither_moves_nor_forgets(weights):
    record = method_run(weights, "frozen", *STEPS)
    assert record["metrics"]["drift_l2"] == 0 and record["metrics"]["fraction_changed"] == 0
    assert record["metrics"]["forgetting"] == 0 and record["metrics"]["bwt"] == 0
    first, second = record["accuracy_matrix"]
    assert first[0] == second[0]
    assert record["accuracy_matrix"] != [record["baseline_accuracy"]] * 2  # the heads did learn


def test_joint_training_learns_every_task_in_the_first_and_forgets_nothing(weights):
    record = method_run(weights, "joint", *STEPS)
    first, second = record["accuracy_matrix"]
    assert first == second and first != record["baseline_accuracy"]
    assert record["metrics"]["forgetting"] == 0 and record["timing"]["train_s"][1] < record["timing"]["train_s"][0]


# huge: Avalanche's Fisher information (squared gradients of mini-batch means) of the tiny random
# backbone is of order 1e-12; SI's importances are clipped at 1e-3, and are 0 for the weights whose
# path integral was not positive, which move freely (held: the share of AdamW's movement allowed)
@pytest.mark.parametrize("method, strength, huge, held_share", [
    ("ewc", "ewc_lambda", 1e12, 0.1), ("ewc_online", "ewc_lambda", 1e12, 0.1), ("si", "si_lambda", 1e9, 0.25),
    ("mas", "mas_lambda", 1e6, 0.25), ("l2sp", "l2sp_alpha", 1e6, 0.1)])
def test_a_zero_penalty_is_plain_adamw_and_a_huge_one_holds_the_weights(weights, method, strength, huge, held_share):
    adamw = method_run(weights, "adamw", *STEPS)
    zero = ["l2sp_beta=0"] if method == "l2sp" else []
    off = method_run(weights, method, *STEPS, f"{strength}=0", *zero)
    for key in ("accuracy_matrix", "val_accuracy_matrix", "metrics", "drift_per_layer_l2"):
        assert off[key] == adamw[key], key
    held = method_run(weights, method, *STEPS, f"{strength}={huge}")
    assert held["metrics"]["drift_l2"] < adamw["metrics"]["drift_l2"]
    moved = {name: SecondTaskMovement() for name in ("adamw", method)}
    method_run(weights, "adamw", *STEPS, plugins=[moved["adamw"]])
    method_run(weights, method, *STEPS, f"{strength}={huge}", plugins=[moved[method]])
    assert moved[method].distance < held_share * moved["adamw"].distance


class SecondTaskMovement(SupervisedPlugin):
    """How far (L2) the backbone's weights move while the second task trains."""

    def after_training_exp(self, strategy, **kwargs):
        weights = torch.cat([p.detach().flatten() for p in strategy.model.backbone.parameters()])
        if strategy.experience.current_experience == 0:
            self.start = weights
        else:
            self.distance = float((weights - self.start).norm())


def test_class_balanced_draws_equally_from_every_class():
    labels = torch.tensor([0] * 10 + [1] * 10 + [2] * 2)
    chosen = class_balanced(labels, 9)
    assert len(chosen) == len(set(chosen.tolist())) == 8  # 3, 3 and the 2 that class 2 has
    assert labels[chosen].bincount().tolist() == [3, 3, 2]


class BatchSpy(SupervisedPlugin):
    """Task labels, labels and images of every training batch, and the rows each head scored."""

    def __init__(self):
        super().__init__()
        self.batches, self.head_rows = [], []

    def before_forward(self, strategy, **kwargs):
        task = strategy.experience.current_experience
        self.batches.append((task, *(t.clone() for t in strategy.mbatch)))
        if task == 1 and not self.head_rows:
            strategy.model.heads[0].register_forward_hook(
                lambda head, inputs, out: self.head_rows.append(len(out)) if head.training else None)


def test_replay_adds_buffer_examples_of_earlier_tasks_with_their_own_labels_and_head(weights):
    spy = BatchSpy()
    record = method_run(weights, "replay", *STEPS, "buffer_per_task=20", "replay_batch_size=5", plugins=[spy])
    assert record["method_state_bytes"][0] == 20 * (28 * 28 + 8)  # uint8 images and int64 labels
    first_task = [b for b in spy.batches if b[0] == 0]
    later = [b for b in spy.batches if b[0] == 1]
    assert all(len(images) == 8 and bool((tasks == 0).all()) for _, images, _, tasks in first_task[:-1])
    for _, images, labels, tasks in later:
        assert (tasks == 0).sum() == 5 and (tasks == 1).sum() == len(tasks) - 5
    task0_examples = {(bytes(i.numpy()), int(y)) for _, images, labels, _ in first_task for i, y in zip(images, labels)}
    for _, images, labels, tasks in later:
        for image, label in zip(images[tasks == 0], labels[tasks == 0]):
            assert (bytes(image.numpy()), int(label)) in task0_examples  # a task-0 example with its own label
    assert len(spy.head_rows) == len(later) and set(spy.head_rows) == {5}  # head 0 scores the 5 replayed rows


def test_the_replay_buffer_is_class_balanced_per_task(weights):
    buffers = []

    class Keep(SupervisedPlugin):
        def after_training_exp(self, strategy, **kwargs):
            plugin = next(p for p in strategy.plugins if isinstance(p, ExperienceReplay))
            buffers.append([(labels.clone(), task) for _, labels, task in plugin.buffer])

    method_run(weights, "replay", "buffer_per_task=20", plugins=[Keep()])
    after_first, after_second = buffers
    assert [task for _, task in after_first] == [0] and [task for _, task in after_second] == [0, 1]
    for labels, _ in after_second:
        assert labels.bincount().tolist() == [2] * 10


class LwFSpy(SupervisedPlugin):
    """After LwF's plugin: the term LwF added to the loss, and the one expected from a copy of the
    model as it was after task 0, on head 0."""

    def __init__(self, alpha, temperature):
        super().__init__()
        self.alpha, self.temperature = alpha, temperature
        self.previous, self.pairs = None, []

    def after_training_exp(self, strategy, **kwargs):
        if self.previous is None:
            self.previous = copy.deepcopy(strategy.model).eval()

    def before_backward(self, strategy, **kwargs):
        if self.previous is None:
            return
        added = strategy.loss.detach() - strategy._criterion(strategy.mb_output, strategy.mb_y).detach()
        with torch.no_grad():
            old, new = self.previous(strategy.mb_x, 0), strategy.model(strategy.mb_x, 0)
        t = self.temperature
        expected = self.alpha * F.kl_div(F.log_softmax(new / t, 1), F.softmax(old / t, 1), reduction="batchmean")
        self.pairs.append((float(added), float(expected)))


def test_lwf_distils_the_previous_models_outputs_on_the_old_head(weights):
    spy = LwFSpy(alpha=2.0, temperature=3.0)
    record = method_run(weights, "lwf", *STEPS, "lwf_alpha=2", "lwf_temperature=3", plugins=[spy])
    assert record["status"] == "completed" and len(spy.pairs) == 7
    for added, expected in spy.pairs:
        assert added == pytest.approx(expected, rel=1e-4, abs=1e-7)
    assert max(expected for _, expected in spy.pairs) > 1e-6  # the model moved away from its teacher


@pytest.mark.parametrize("method", ["ewc", "ewc_online", "si", "mas", "lwf", "replay", "l2sp"])
def test_a_resumed_method_run_gives_the_uninterrupted_record(weights, tmp_path, method):
    kept = Checkpointing(tmp_path / "run.pt", every_steps=3, keep=True)
    whole = method_run(weights, method, *STEPS, checkpointing=kept)
    assert kept.path.exists()  # the last in-task checkpoint, 6 steps into the second task
    resumed = method_run(weights, method, *STEPS, checkpointing=kept)
    assert stable(resumed) == stable(whole)
