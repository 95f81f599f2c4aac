"""The Avalanche callbacks every run uses: the lr schedule, the divergence check, what evaluation
records (predictions for output drift, validation accuracy after each epoch), frozen norm
statistics and the progress bar."""

from __future__ import annotations

import torch
from avalanche.training.plugins import SupervisedPlugin
from torch.nn.modules.batchnorm import _NormBase
from tqdm.auto import tqdm

from clbench.errors import Diverged


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
