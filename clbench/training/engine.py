"""Running one experiment: a stream of tasks through an Avalanche strategy, measured after each task."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from avalanche.benchmarks import tensors_benchmark
from avalanche.evaluation.metrics import accuracy_metrics
from avalanche.training.determinism.rng_manager import RNGManager
from avalanche.training.plugins import EvaluationPlugin
from tqdm.auto import tqdm

from clbench.data.datasets import DatasetSpec, DataSource
from clbench.errors import Diverged, UsageError
from clbench.methods.state import held_bytes, stateful
from clbench.optim.state import optimizer_state_bytes
from clbench.records import effective_settings
from clbench.settings import RunSettings
from clbench.strategy import Strategy
from clbench.streams import DATASETS, StreamSpec, TaskData, load_stream
from clbench.training import metrics
from clbench.training.backbones import create_model_parts
from clbench.training.checkpoints import Checkpointing, load_checkpoint, restore_rng_states, rng_states, save_checkpoint
from clbench.training.model import TaskHeadsModel
from clbench.training.callbacks import (CosineSchedule, DivergenceCheck, EpochValidation, EvalPredictions,
                                      FreezeNormStatistics, ProgressBar)
from clbench.training.progress import Progress
from clbench.training.template import TaskIncrementalTemplate, settings_errors_are_usage_errors


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


def out_of_memory_message(config: dict, device: str) -> str:
    size = config["batch_size"]
    return (f"out of memory on {device} with batch_size {size}; try --set batch_size={max(1, size // 2)} "
            "(the learning rate may need adjusting), or a smaller image_size")


@dataclass
class _Run:
    """What one run trains and measures with, built from its request."""

    tasks: list[TaskData]
    model: TaskHeadsModel
    trainer: TaskIncrementalTemplate
    benchmark: object  # Avalanche's: the train stream trains, the test stream's experiences say which task to evaluate
    predictions: EvalPredictions
    epoch_validation: EpochValidation
    pretrained: dict[str, torch.Tensor]  # the backbone's weights before training, on the CPU
    weights_source: str
    validated: bool  # whether validation data is held out (val_fraction > 0)

    def evaluate(self, split: str) -> list[float]:
        """Accuracy on every task's test or validation data."""
        self.trainer.eval_split = split
        results = self.trainer.eval(self.benchmark.test_stream)
        return [100.0 * results[f"Top1_Acc_Exp/eval_phase/test_stream/Task{j:03d}/Exp{j:03d}"]
                for j in range(len(self.tasks))]


def run_experiment(request: RunRequest, progress: bool = True) -> dict:
    """Train on each task in turn and evaluate every task before the first and after each one.

    Returns what the run measured (clbench.run makes it a record). A non-finite loss or weight ends the run with status "diverged", an
    error while training with status "failed", both with the accuracy matrix so far. Bad input
    (UsageError) propagates: it is the user's to fix, not a result. With request.checkpointing, a
    checkpoint is written after every task but the last (and every N steps, if asked), the run
    continues from an existing one, and it is removed when the run ends, unless kept or the run failed.
    """
    start = time.perf_counter()
    RNGManager.set_random_seeds(request.seed)
    run = _build(request, progress)
    checkpointing = request.checkpointing
    resume = load_checkpoint(checkpointing.path) if checkpointing else None
    so_far = _progress_so_far(run, resume)

    def save(in_task: dict | None = None) -> None:
        elapsed = so_far.elapsed_s + time.perf_counter() - start
        save_checkpoint(checkpointing.path, {
            "model": run.model.state_dict(), "shuffle": run.trainer.shuffle_state(),
            "rng": rng_states(), "in_task": in_task, "progress": so_far.as_dict(elapsed),
            "methods": [plugin.state_dict() for plugin in stateful(run.trainer.plugins)],
        })

    if checkpointing and checkpointing.every_steps:
        run.trainer.checkpoint_every(checkpointing.every_steps, save)
    status, error, divergence = _train_tasks(request, run, so_far, resume, save if checkpointing else None, progress)
    if checkpointing and status != "failed" and not checkpointing.keep:
        checkpointing.path.unlink(missing_ok=True)  # a failed run keeps it: a re-run continues from it
    measured = _measured(run, so_far, status)
    return {  # what the run measured; clbench.run adds what names it and where it ran
        "backbone_weights": run.weights_source, "status": status, "error": error, "divergence": divergence,
        **measured, "effective": effective_settings(request.config, request.device),
        "timing": {"wall_s": so_far.elapsed_s + time.perf_counter() - start, "task_s": so_far.task_s,
                   "train_s": so_far.train_s},
    }


def _build(request: RunRequest, progress: bool) -> _Run:
    config = RunSettings(request.config)  # read-only from here on: strategies, callbacks and the trainer share it
    weights = Path(config["weights"]) if config["weights"] else None
    parts = create_model_parts(request.backbone, weights, config)
    tasks = load_stream(request.stream, config, request.source, parts.image_size, request.seed, request.datasets,
                        parts.tokenization)
    validated = config["val_fraction"] > 0
    model = TaskHeadsModel(parts.backbone, [t.num_classes for t in tasks], parts.input_layer)

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
        strategy_callbacks = request.strategy.make_callbacks(config)
    if config["compile"]:
        model.backbone.compile()
    # after prepare_model, so that a change of dtype is not counted as drift
    pretrained = {name: p.detach().to("cpu", copy=True) for name, p in model.backbone.named_parameters()}
    predictions = EvalPredictions()
    epoch_validation = EpochValidation()
    trainer = TaskIncrementalTemplate(
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
            *strategy_callbacks,
        ],
        evaluator=EvaluationPlugin(accuracy_metrics(experience=True), loggers=[]),
    )
    return _Run(tasks, model, trainer, benchmark, predictions, epoch_validation, pretrained, parts.weights_source,
                validated)


def _progress_so_far(run: _Run, resume: dict | None) -> Progress:
    """What the run measured so far: after the baseline evaluation of a fresh run, or the
    checkpoint's, with its model and method states restored."""
    if resume is None:
        progress = Progress(baseline=run.evaluate("test"), val_baseline=run.evaluate("val") if run.validated else None)
    else:
        run.model.load_state_dict(resume["model"])
        for plugin, state in zip(stateful(run.trainer.plugins), resume["methods"], strict=True):
            plugin.load_state_dict(state, run.model)
        progress = Progress.from_dict(resume["progress"])
        run.trainer.clock.train_exp_counter = progress.tasks_done  # methods count tasks by it
    run.epoch_validation.by_task = progress.val_epoch_accuracy
    return progress


def _train_tasks(request: RunRequest, run: _Run, so_far: Progress, resume: dict | None, save, progress: bool):
    """Trains the tasks not yet done, measuring after each; returns (status, error, divergence).
    save(): writes a checkpoint (None: no checkpointing)."""
    trainer, matrix = run.trainer, so_far.matrix
    for experience in tqdm(run.benchmark.train_stream, desc=request.strategy.name, disable=not progress):
        if experience.current_experience < len(matrix):
            continue  # done before the checkpoint this run resumed from
        if resume is not None:
            trainer.restore_shuffle_state(resume["shuffle"])
            restore_rng_states(resume["rng"])
            trainer.resume_in_task = resume["in_task"]
            resume = None
        task_start = time.perf_counter()
        try:
            if not (request.strategy.joint and experience.current_experience > 0):  # joint: all in the first
                trainer.train(experience)
        except Diverged as exc:
            return "diverged", str(exc), {"task": exc.task, "step": exc.step, "cause": exc.cause}
        except UsageError:
            raise
        except torch.cuda.OutOfMemoryError:
            return "failed", out_of_memory_message(request.config, request.device), None
        except Exception as exc:  # a crash in training is part of the result, recorded as "failed"
            return "failed", f"{type(exc).__name__}: {exc}", None
        so_far.train_s.append(time.perf_counter() - task_start)
        so_far.state_bytes.append(optimizer_state_bytes(trainer.optimizer))
        so_far.method_bytes.append(held_bytes(trainer.plugins))
        refreshes = getattr(trainer.optimizer, "mask_refreshes", None)
        so_far.mask_refreshes.append(refreshes() if refreshes else None)
        matrix.append(run.evaluate("test"))
        trained = len(matrix) - 1
        references = so_far.reference_log_probs
        references[trained] = run.predictions.by_task[trained]
        so_far.output_kl.append([metrics.mean_kl(references[j], run.predictions.by_task[j])
                                    for j in range(trained)])
        if run.validated:
            so_far.val_matrix.append(run.evaluate("val"))
        so_far.task_s.append(time.perf_counter() - task_start)
        if save and len(matrix) < len(run.tasks):
            save()
    return "completed", None, None


def _measured(run: _Run, so_far: Progress, status: str) -> dict:
    """The record's measurements: accuracy matrices and the metrics from them, drift, state sizes."""
    matrix, val_matrix, output_kl = so_far.matrix, so_far.val_matrix, so_far.output_kl
    drift = metrics.backbone_drift(run.pretrained, dict(run.model.backbone.named_parameters()))
    run_metrics = dict.fromkeys(("acc", "bwt", "fwt", "forgetting", "plasticity"))
    val_metrics = dict(run_metrics) if run.validated else None
    if status == "completed":
        run_metrics = metrics.stream_metrics(matrix, so_far.baseline)
        val_metrics = metrics.stream_metrics(val_matrix, so_far.val_baseline) if run.validated else None
    final_kl = output_kl[-1] if status == "completed" and len(output_kl) > 1 else None
    run_metrics.update(drift_l2=drift["l2"], fraction_changed=drift["fraction_changed"],
                       output_kl=sum(final_kl) / len(final_kl) if final_kl else None)
    mask_refreshes = so_far.mask_refreshes
    return {
        "tasks": [t.name for t in run.tasks],
        "accuracy_matrix": matrix,
        "baseline_accuracy": so_far.baseline,
        "metrics": run_metrics,
        # the same on the validation data held out of training (None with val_fraction 0)
        "val_accuracy_matrix": val_matrix if run.validated else None,
        "val_baseline_accuracy": so_far.val_baseline,
        "val_metrics": val_metrics,
        # val_epoch_accuracy[i][e]: task i's validation accuracy after epoch e of training on it
        "val_epoch_accuracy": run.epoch_validation.by_task if run.validated else None,
        "drift_per_layer_l2": drift["per_layer_l2"],
        # output_kl[i][j], j < i: mean KL divergence (nats) of task j's head's predictions on its test
        # data right after task j from those after task i
        "output_kl": output_kl,
        "optimizer_state_bytes": so_far.state_bytes,
        # what a method holds after each task: replay buffer, importances, stored weights or model
        "method_state_bytes": so_far.method_bytes,
        "mask_refreshes": mask_refreshes if any(count is not None for count in mask_refreshes) else None,
    }
