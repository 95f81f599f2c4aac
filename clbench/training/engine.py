"""Running one experiment: a stream of tasks through an Avalanche strategy, measured after each task."""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch
from avalanche.benchmarks import tensors_benchmark
from avalanche.evaluation.metrics import accuracy_metrics
from avalanche.training.determinism.rng_manager import RNGManager
from avalanche.training.plugins import EvaluationPlugin, SupervisedPlugin
from avalanche.training.templates import SupervisedTemplate
from torch import nn
from torch.nn.modules.batchnorm import _NormBase
from tqdm.auto import tqdm

from clbench.training import metrics
from clbench.training.backbones import create_backbone
from clbench.data.batches import JointBatches, TensorBatches
from clbench.training.checkpoints import Checkpointing, load_checkpoint, restore_rng_states, rng_states, save_checkpoint
from clbench.data.datasets import DatasetSpec, DataSource
from clbench.errors import Diverged, UsageError
from clbench.methods.state import held_bytes, stateful
from clbench.training.model import ImageInput, TaskHeadsModel
from clbench.optim.combined import CombinedOptimizer
from clbench.optim.state import optimizer_state_bytes
from clbench.records import effective_settings
from clbench.strategy import Strategy
from clbench.streams import DATASETS, StreamSpec, TaskData, load_stream


@dataclass(frozen=True)
class RunRequest:
    stream: StreamSpec
    strategy: Strategy
    backbone: str
    seed: int
    config: dict
    device: str
    source: DataSource
    checkpointing: Checkpointing | None = None
    datasets: Mapping[str, DatasetSpec] = field(default_factory=lambda: DATASETS)  # where the data set names are looked up


@contextmanager
def settings_errors_are_usage_errors(strategy: Strategy):
    """A strategy's ValueError (a setting it cannot use) reaches the user as a one-line usage error."""
    try:
        yield
    except ValueError as exc:
        raise UsageError(f"strategy {strategy.name}: {exc}; fix it with --set") from None


class TaskIncrementalTemplate(SupervisedTemplate):
    """Avalanche's supervised template with a fresh optimizer per task, built by the strategy plugin
    from the backbone and that task's head, with that task's learning rate. Batches are slices of
    the task's tensors, moved to the device once (TensorBatches), instead of a DataLoader's."""

    def __init__(self, *, clbench_strategy: Strategy, clbench_config: dict, tasks: list[TaskData], seed: int,
                 **kwargs):
        self._clbench_strategy = clbench_strategy
        self._clbench_config = clbench_config
        self._tasks = tasks
        self._seed = seed
        self._shuffle = torch.Generator().manual_seed(seed)
        self._checkpoint_every, self._on_checkpoint = 0, None  # see checkpoint_every()
        self.resume_in_task: dict | None = None  # set to a checkpoint's in-task state to continue from it
        self._epoch_start_shuffle = None
        self._epoch_step = 0
        self._resumed_epoch_step = 0
        self._on_device: dict[tuple[int, str], tuple[torch.Tensor, torch.Tensor]] = {}
        self.eval_split = "test"  # or "val": what make_eval_dataloader serves
        model = kwargs["model"]
        first_optimizer = self._optimizer_for(model, 0, task_steps=1)  # replaced at the start of every task
        super().__init__(optimizer=first_optimizer, **kwargs)

    def _optimizer_for(self, model: TaskHeadsModel, task: int, task_steps: int):
        """The strategy's optimizer for the task; with head_lr, on the backbone alone, combined with
        AdamW on the head(s)."""
        heads = model.heads if self._clbench_strategy.joint else model.heads[task]
        head_lr = self._clbench_config["head_lr"]
        if head_lr:
            head_optimizer = torch.optim.AdamW(heads.parameters(), lr=head_lr, weight_decay=0.0)
            heads = nn.ModuleList()  # the strategy's optimizer gets no head
            if not any(p.requires_grad for p in model.backbone.parameters()):
                return head_optimizer  # a frozen backbone: nothing for the strategy to move
        with settings_errors_are_usage_errors(self._clbench_strategy):
            optimizer = self._clbench_strategy.make_optimizer(
                model.backbone, heads, self._clbench_config["lr"][task],
                {**self._clbench_config, "task_steps": task_steps, "task": task, "run_seed": self._seed},
            )
        return CombinedOptimizer(optimizer, head_optimizer) if head_lr else optimizer

    def check_model_and_optimizer(self, **kwargs):
        self.model = self.model_adaptation()
        self.model.zero_grad(set_to_none=True)  # no gradient of an earlier task's head lingers into this one
        self.optimizer = self._optimizer_for(self.model, self.experience.current_experience,
                                             task_steps=len(self.dataloader) * self.train_epochs)

    def _before_training_epoch(self, **kwargs):
        self._epoch_start_shuffle = self._shuffle.get_state()
        self._epoch_step, self._resumed_epoch_step = self._resumed_epoch_step, 0
        super()._before_training_epoch(**kwargs)

    def _after_training_iteration(self, **kwargs):
        super()._after_training_iteration(**kwargs)  # the clock, the last plugin, counts the step
        self._epoch_step += 1
        if self._checkpoint_every and self.clock.train_exp_iterations % self._checkpoint_every == 0:
            next(p for p in self.plugins if isinstance(p, DivergenceCheck)).check(self)  # no diverged checkpoint
            self._on_checkpoint(self.in_task_state())

    @property
    def checkpoints_in_task(self) -> bool:
        """Whether checkpoints are written inside tasks (from which a run can continue mid-task)."""
        return bool(self._checkpoint_every)

    def checkpoint_every(self, steps: int, on_checkpoint) -> None:
        """Calls on_checkpoint(in_task_state()) after every `steps` training steps of a task."""
        self._checkpoint_every, self._on_checkpoint = steps, on_checkpoint

    def shuffle_state(self) -> torch.Tensor:
        return self._shuffle.get_state()

    def restore_shuffle_state(self, state: torch.Tensor) -> None:
        self._shuffle.set_state(state)

    def in_task_state(self) -> dict:
        return {
            "epoch": self.clock.train_exp_epochs,
            "epoch_step": self._epoch_step,
            "task_step": self.clock.train_exp_iterations,
            "epoch_start_shuffle": self._epoch_start_shuffle,
            "optimizer": self.optimizer.state_dict(),
            "schedulers": [p.scheduler.state_dict() for p in self.plugins if isinstance(p, CosineSchedule)],
            "rng": rng_states(),
        }

    def _train_exp(self, experience, eval_streams=None, **kwargs):
        resume, self.resume_in_task = self.resume_in_task, None
        if resume is None:
            return super()._train_exp(experience, eval_streams, **kwargs)
        self.optimizer.load_state_dict(resume["optimizer"])
        schedulers = [p.scheduler for p in self.plugins if isinstance(p, CosineSchedule)]
        for scheduler, state in zip(schedulers, resume["schedulers"], strict=True):
            scheduler.load_state_dict(state)
        self.clock.train_exp_epochs = resume["epoch"]
        self.clock.train_exp_iterations = resume["task_step"]
        self._shuffle.set_state(resume["epoch_start_shuffle"])  # the epoch's batch order is drawn again...
        self.dataloader.skip_next(resume["epoch_step"])  # ...and its finished steps skipped
        self._resumed_epoch_step = resume["epoch_step"]
        restore_rng_states(resume["rng"])
        for _ in range(resume["epoch"], self.train_epochs):
            self._before_training_epoch(**kwargs)
            self.training_epoch(**kwargs)
            self._after_training_epoch(**kwargs)

    def make_train_dataloader(self, **kwargs):
        task = self.experience.current_experience
        if self._clbench_strategy.joint:
            self.dataloader = JointBatches([self.data_on_device(t, "train") for t in range(len(self._tasks))],
                                           self.train_mb_size, self._shuffle, self.model.image_input)
        else:
            self.dataloader = TensorBatches(*self.data_on_device(task, "train"), task, self.train_mb_size,
                                            self._shuffle)

    def make_eval_dataloader(self, **kwargs):
        task = self.experience.current_experience
        self.dataloader = TensorBatches(*self.data_on_device(task, self.eval_split), task, self.eval_mb_size)

    def _single_task(self) -> int | None:
        """The task of every example of the batch, when known on the host (a OneTaskBatch: one
        task's data, no replay mixed in); None otherwise."""
        return getattr(self.mbatch, "task", None)

    def criterion(self):
        """A batch mixing tasks (replay, joint training) is scored by every row's own head: the mean
        over rows of the loss on that head's classes alone."""
        if self._single_task() is not None:
            return super().criterion()
        tasks = self.mb_task_id
        if len(tasks) == 0 or bool((tasks == tasks[0]).all()):
            return super().criterion()
        loss = 0.0
        for task in tasks.unique().tolist():
            rows = tasks == task
            classes = self.model.heads[task].out_features
            share = rows.sum() / len(tasks)
            loss = loss + share * self._criterion(self.mb_output[rows, :classes], self.mb_y[rows])
        return loss

    def data_on_device(self, task: int, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """A task's images and labels of one split ("train", "val", "test"), moved to the device once."""
        if (task, split) not in self._on_device:
            data = self._tasks[task]
            images, labels = getattr(data, f"{split}_x"), getattr(data, f"{split}_y")
            self._on_device[task, split] = (images.to(self.device), labels.to(self.device))
        return self._on_device[task, split]

    def forward(self):
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=self.uses_amp()):
            task = self._single_task()
            return super().forward() if task is None else self.model(self.mb_x, task)

    def uses_amp(self) -> bool:
        return self._clbench_config["amp"] and torch.device(self.device).type == "cuda"


class CosineSchedule(SupervisedPlugin):
    """Cosine decay of every task's learning rate to 0 over the task's steps, stepped per iteration."""

    def __init__(self):
        super().__init__()
        self.scheduler = None

    def before_training_exp(self, strategy, **kwargs):
        steps = len(strategy.dataloader) * strategy.train_epochs
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(strategy.optimizer, T_max=steps)

    def after_training_iteration(self, strategy, **kwargs):
        self.scheduler.step()


class DivergenceCheck(SupervisedPlugin):
    """Stops training after the first non-finite loss or weight, reporting the first step (counted
    from 1 within each task) where one appeared. A step only updates flags on the device; they are
    read back every `every` steps, at the end of each epoch and before an in-task checkpoint, so
    that steps never wait for the device. A diverged run's weights are those of the step it stopped at."""

    def __init__(self, every: int):
        super().__init__()
        self.every = every
        # on the device: the first bad step (-1: none yet), its kind (0: loss, 1: weight), its loss and
        # which parameters were non-finite then
        self.first_step = self.first_kind = self.first_loss = self.first_weights = None

    def before_training_exp(self, strategy, **kwargs):
        device = strategy.device
        self.first_step = torch.full((), -1, dtype=torch.long, device=device)
        self.first_kind = torch.zeros((), dtype=torch.long, device=device)
        self.first_loss = torch.zeros((), device=device)
        self.first_weights = torch.zeros(len(list(strategy.model.parameters())), dtype=torch.bool, device=device)

    @staticmethod
    def _step(strategy) -> int:
        """The step under way, from 1 within the task (the clock counts finished ones, and is restored on resume)."""
        return strategy.clock.train_exp_iterations + 1

    def _first(self, bad: torch.Tensor, kind: int, step: int) -> torch.Tensor:
        first = bad & (self.first_step < 0)
        self.first_step = torch.where(first, step, self.first_step)
        self.first_kind = torch.where(first, kind, self.first_kind)
        return first

    def after_backward(self, strategy, **kwargs):
        loss = strategy.loss.detach().float()
        self.first_loss = torch.where(self._first(~loss.isfinite(), 0, self._step(strategy)), loss, self.first_loss)

    def after_update(self, strategy, **kwargs):
        weights = [p.detach() for p in strategy.model.parameters()]
        bad = ~torch.stack([norm.float() for norm in torch._foreach_norm(weights, float("inf"))]).isfinite()
        self.first_weights = torch.where(self._first(bad.any(), 1, self._step(strategy)), bad, self.first_weights)

    def after_training_iteration(self, strategy, **kwargs):
        if self._step(strategy) % self.every == 0:
            self.check(strategy)

    def after_training_epoch(self, strategy, **kwargs):
        self.check(strategy)

    def check(self, strategy) -> None:
        """Raises Diverged if a step so far had a non-finite loss or weight (reads the flags back)."""
        step = int(self.first_step)
        if step < 0:
            return
        if int(self.first_kind) == 0:
            cause = f"non-finite loss {float(self.first_loss)}"
        else:
            names = [name for (name, _), bad in zip(strategy.model.named_parameters(), self.first_weights.tolist())
                     if bad]
            cause = f"non-finite weight in {names[0]}"
        raise Diverged(strategy.experience.current_experience, step, cause)


class EvalPredictions(SupervisedPlugin):
    """The log-probabilities the model gave each example of the last evaluated experience of every
    task, on the CPU, in the evaluation's (fixed) order: what output drift compares."""

    def __init__(self):
        super().__init__()
        self.by_task: dict[int, torch.Tensor] = {}
        self._batches: list[torch.Tensor] = []

    def before_eval_exp(self, strategy, **kwargs):
        self._batches = []

    def after_eval_iteration(self, strategy, **kwargs):
        self._batches.append(strategy.mb_output.detach().float().log_softmax(dim=1))

    def after_eval_exp(self, strategy, **kwargs):
        self.by_task[strategy.experience.current_experience] = torch.cat(self._batches).cpu()


class EpochValidation(SupervisedPlugin):
    """The new task's validation accuracy after every epoch (whether it has plateaued), appended to
    `by_task[task]`. A plain forward pass in eval mode: no random draw, no running statistic moves,
    and every module's train/eval mode is put back, so training goes on exactly as without it."""

    def __init__(self):
        super().__init__()
        self.by_task: list[list[float]] = []  # the run's progress holds it, so that checkpoints keep it

    def before_training_exp(self, strategy, **kwargs):
        task = strategy.experience.current_experience
        while len(self.by_task) <= task:
            self.by_task.append([])

    @torch.no_grad()
    def after_training_epoch(self, strategy, **kwargs):
        task = strategy.experience.current_experience
        images, labels = strategy.data_on_device(task, "val")
        modes = {module: module.training for module in strategy.model.modules()}
        strategy.model.eval()
        correct = torch.zeros((), dtype=torch.long, device=labels.device)
        try:
            for start in range(0, len(labels), strategy.eval_mb_size):
                with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=strategy.uses_amp()):
                    logits = strategy.model(images[start:start + strategy.eval_mb_size], task)
                correct += (logits.argmax(dim=1) == labels[start:start + strategy.eval_mb_size]).sum()
        finally:
            for module, training in modes.items():
                module.train(training)
        self.by_task[task].append(100.0 * correct.item() / len(labels))


class FreezeNormStatistics(SupervisedPlugin):
    """Keeps normalisation layers' running statistics at their pretrained values during training,
    so that only the optimizer, not the data's statistics, moves the backbone."""

    def before_training_epoch(self, strategy, **kwargs):
        for module in strategy.model.backbone.modules():
            if isinstance(module, _NormBase):
                module.eval()


class ProgressBar(SupervisedPlugin):
    """One tqdm bar per training epoch, showing the loss of every `loss_every`-th step (reading it
    back waits for the device); nothing at all when disabled."""

    def __init__(self, enabled: bool, loss_every: int = 10):
        super().__init__()
        self.enabled, self.loss_every = enabled, loss_every
        self.bar = None

    def before_training_epoch(self, strategy, **kwargs):
        if self.enabled:
            task = strategy.experience.current_experience
            self.bar = tqdm(total=len(strategy.dataloader), desc=f"task {task} epoch {strategy.clock.train_exp_epochs}",
                            leave=False)

    def after_training_iteration(self, strategy, **kwargs):
        if self.enabled:
            self.bar.update(1)
            if self.bar.n % self.loss_every == 1:
                self.bar.set_postfix(loss=f"{float(strategy.loss.detach()):.3f}")

    def after_training_epoch(self, strategy, **kwargs):
        if self.enabled:
            self.bar.close()


def out_of_memory_message(config: dict, device: str) -> str:
    size = config["batch_size"]
    return (f"out of memory on {device} with batch_size {size}; try --set batch_size={max(1, size // 2)} "
            "(the learning rate may need adjusting), or a smaller image_size")


def run_experiment(request: RunRequest, progress: bool = True) -> dict:
    """Train on each task in turn and evaluate every task before the first and after each one.

    Returns what the run measured (clbench.run makes it a record). A non-finite loss or weight ends the run with status "diverged", an
    error while training with status "failed", both with the accuracy matrix so far. Bad input
    (UsageError) propagates: it is the user's to fix, not a result. With request.checkpointing, a
    checkpoint is written after every task but the last (and every N steps, if asked), the run
    continues from an existing one, and it is removed when the run ends, unless kept or the run failed.
    """
    start = time.perf_counter()
    config = request.config
    RNGManager.set_random_seeds(request.seed)

    weights = Path(config["weights"]) if config["weights"] else None
    backbone, data_config, weights_source = create_backbone(request.backbone, weights)
    image_size = config["image_size"] or data_config["input_size"][-1]
    tasks = load_stream(request.stream, config, request.source, image_size, request.seed, request.datasets)
    validated = config["val_fraction"] > 0
    model = TaskHeadsModel(backbone, [t.num_classes for t in tasks],
                           ImageInput(image_size, data_config["mean"], data_config["std"], config["augment"]))

    benchmark = tensors_benchmark(
        train_tensors=[(t.train_x, t.train_y) for t in tasks],
        test_tensors=[(t.test_x, t.test_y) for t in tasks],
        task_labels=list(range(len(tasks))),
        complete_test_set_only=False,
    )
    model = model.to(request.device)
    if torch.device(request.device).type == "cuda" and config["channels_last"]:
        model = model.to(memory_format=torch.channels_last)
    with settings_errors_are_usage_errors(request.strategy):
        request.strategy.prepare_model(model, config)
        strategy_plugins = request.strategy.make_plugins(config)
    if config["compile"]:
        model.backbone.compile()
    # after prepare_model, so that a change of dtype is not counted as drift
    pretrained = {name: p.detach().to("cpu", copy=True) for name, p in model.backbone.named_parameters()}
    predictions = EvalPredictions()
    epoch_validation = EpochValidation()
    cl_strategy = TaskIncrementalTemplate(
        clbench_strategy=request.strategy,
        clbench_config=config,
        tasks=tasks,
        seed=request.seed,
        model=model,
        criterion=torch.nn.CrossEntropyLoss(label_smoothing=config["label_smoothing"]),
        train_mb_size=config["batch_size"],
        train_epochs=config["epochs"],
        eval_mb_size=config["eval_batch_size"],
        device=request.device,
        plugins=[
            DivergenceCheck(config["divergence_check_every"]),
            ProgressBar(progress),
            predictions,
            *([epoch_validation] if validated else []),
            *([FreezeNormStatistics()] if config["freeze_norm_stats"] else []),
            *([CosineSchedule()] if config["lr_schedule"] == "cosine" else []),
            *strategy_plugins,
        ],
        evaluator=EvaluationPlugin(accuracy_metrics(experience=True), loggers=[]),
    )

    def evaluate(split: str) -> list[float]:
        """Accuracy on every task's test or validation data (the test stream's experiences only say which task)."""
        cl_strategy.eval_split = split
        results = cl_strategy.eval(benchmark.test_stream)
        return [100.0 * results[f"Top1_Acc_Exp/eval_phase/test_stream/Task{j:03d}/Exp{j:03d}"]
                for j in range(len(tasks))]

    checkpointing = request.checkpointing
    resume = load_checkpoint(checkpointing.path) if checkpointing else None
    if resume is None:
        progress_so_far = {"baseline": evaluate("test"), "val_baseline": evaluate("val") if validated else None,
                           "matrix": [], "val_matrix": [], "state_bytes": [], "method_bytes": [],
                           "mask_refreshes": [], "task_s": [], "train_s": [], "elapsed_s": 0.0,
                           "output_kl": [], "reference_log_probs": {}}
    else:
        model.load_state_dict(resume["model"])
        for plugin, state in zip(stateful(cl_strategy.plugins), resume["methods"], strict=True):
            plugin.load_state_dict(state, model)
        progress_so_far = resume["progress"]
        cl_strategy.clock.train_exp_counter = len(progress_so_far["matrix"])  # methods count tasks by it
    baseline, val_baseline, matrix, val_matrix, state_bytes, method_bytes, mask_refreshes = (
        progress_so_far[k] for k in ("baseline", "val_baseline", "matrix", "val_matrix", "state_bytes",
                                     "method_bytes", "mask_refreshes"))
    task_times, train_times = progress_so_far["task_s"], progress_so_far["train_s"]
    # each task's test predictions right after training on it, and the drift from them after each later task
    output_kl = progress_so_far.setdefault("output_kl", [])
    references = progress_so_far.setdefault("reference_log_probs", {})
    epoch_validation.by_task = progress_so_far.setdefault("val_epoch_accuracy", [])

    def save(in_task: dict | None = None) -> None:
        elapsed = progress_so_far["elapsed_s"] + time.perf_counter() - start
        save_checkpoint(checkpointing.path, {
            "model": model.state_dict(), "shuffle": cl_strategy.shuffle_state(),
            "rng": rng_states(), "in_task": in_task, "progress": {**progress_so_far, "elapsed_s": elapsed},
            "methods": [plugin.state_dict() for plugin in stateful(cl_strategy.plugins)],
        })

    if checkpointing and checkpointing.every_steps:
        cl_strategy.checkpoint_every(checkpointing.every_steps, save)

    status, error, divergence = "completed", None, None
    for experience in tqdm(benchmark.train_stream, desc=request.strategy.name, disable=not progress):
        if experience.current_experience < len(matrix):
            continue  # done before the checkpoint this run resumed from
        if resume is not None:
            cl_strategy.restore_shuffle_state(resume["shuffle"])
            restore_rng_states(resume["rng"])
            cl_strategy.resume_in_task = resume["in_task"]
            resume = None
        task_start = time.perf_counter()
        try:
            if not (request.strategy.joint and experience.current_experience > 0):  # joint: all in the first
                cl_strategy.train(experience)
        except Diverged as exc:
            status, error = "diverged", str(exc)
            divergence = {"task": exc.task, "step": exc.step, "cause": exc.cause}
            break
        except UsageError:
            raise
        except torch.cuda.OutOfMemoryError:
            status, error = "failed", out_of_memory_message(config, request.device)
            break
        except Exception as exc:  # a crash in training is part of the result, recorded as "failed"
            status, error = "failed", f"{type(exc).__name__}: {exc}"
            break
        train_times.append(time.perf_counter() - task_start)
        state_bytes.append(optimizer_state_bytes(cl_strategy.optimizer))
        method_bytes.append(held_bytes(cl_strategy.plugins))
        refreshes = getattr(cl_strategy.optimizer, "mask_refreshes", None)
        mask_refreshes.append(refreshes() if refreshes else None)
        matrix.append(evaluate("test"))
        trained = len(matrix) - 1
        references[trained] = predictions.by_task[trained]
        output_kl.append([metrics.mean_kl(references[j], predictions.by_task[j]) for j in range(trained)])
        if validated:
            val_matrix.append(evaluate("val"))
        task_times.append(time.perf_counter() - task_start)
        if checkpointing and len(matrix) < len(tasks):
            save()
    if checkpointing and status != "failed" and not checkpointing.keep:
        checkpointing.path.unlink(missing_ok=True)  # a failed run keeps it: a re-run continues from it

    drift = metrics.backbone_drift(pretrained, dict(model.backbone.named_parameters()))
    run_metrics = dict.fromkeys(("acc", "bwt", "fwt", "forgetting", "plasticity"))
    val_metrics = dict(run_metrics) if validated else None
    if status == "completed":
        run_metrics = metrics.stream_metrics(matrix, baseline)
        val_metrics = metrics.stream_metrics(val_matrix, val_baseline) if validated else None
    final_kl = output_kl[-1] if status == "completed" and len(output_kl) > 1 else None
    run_metrics.update(drift_l2=drift["l2"], fraction_changed=drift["fraction_changed"],
                       output_kl=sum(final_kl) / len(final_kl) if final_kl else None)

    return {  # what the run measured; clbench.run adds what names it and where it ran
        "backbone_weights": weights_source,
        "status": status,
        "error": error,
        "divergence": divergence,
        "tasks": [t.name for t in tasks],
        "accuracy_matrix": matrix,
        "baseline_accuracy": baseline,
        "metrics": run_metrics,
        # the same on the validation data held out of training (None with val_fraction 0)
        "val_accuracy_matrix": val_matrix if validated else None,
        "val_baseline_accuracy": val_baseline,
        "val_metrics": val_metrics,
        # val_epoch_accuracy[i][e]: task i's validation accuracy after epoch e of training on it
        "val_epoch_accuracy": epoch_validation.by_task if validated else None,
        "drift_per_layer_l2": drift["per_layer_l2"],
        # output_kl[i][j], j < i: mean KL divergence (nats) of task j's head's predictions on its test
        # data right after task j from those after task i
        "output_kl": output_kl,
        "optimizer_state_bytes": state_bytes,
        # what a method holds after each task: replay buffer, importances, stored weights or model
        "method_state_bytes": method_bytes,
        "mask_refreshes": mask_refreshes if any(count is not None for count in mask_refreshes) else None,
        "effective": effective_settings(config, request.device),
        "timing": {"wall_s": progress_so_far["elapsed_s"] + time.perf_counter() - start, "task_s": task_times,
                   "train_s": train_times},
    }
