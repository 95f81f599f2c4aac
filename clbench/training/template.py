"""The Avalanche template a run trains with: one task at a time, a fresh optimizer per task from
the strategy, batches sliced from tensors on the device, checkpoints inside a task."""

from __future__ import annotations

from contextlib import contextmanager

import torch
from avalanche.training.templates import SupervisedTemplate
from torch import nn

from clbench.data.batches import JointBatches, TensorBatches
from clbench.errors import UsageError
from clbench.optim.combined import CombinedOptimizer
from clbench.settings import RunSettings, TaskContext
from clbench.streams import TaskData
from clbench.strategy import Strategy
from clbench.training.checkpoints import restore_rng_states, rng_states
from clbench.training.model import TaskHeadsModel
from clbench.training.callbacks import CosineSchedule, DivergenceCheck


@contextmanager
def settings_errors_are_usage_errors(strategy: Strategy):
    """A strategy's ValueError (a setting it cannot use) reaches the user as a one-line usage error."""
    try:
        yield
    except ValueError as exc:
        raise UsageError(f"strategy {strategy.name}: {exc}; fix it with --set") from None


class TaskIncrementalTemplate(SupervisedTemplate):
    """Avalanche's supervised template with a fresh optimizer per task, built by the strategy
    from the backbone and that task's head, with that task's learning rate. Batches are slices of
    the task's tensors, moved to the device once (TensorBatches), instead of a DataLoader's."""

    def __init__(self, *, clbench_strategy: Strategy, clbench_config: RunSettings, tasks: list[TaskData], seed: int,
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
        self._epochs_done = 0  # of a resumed task, before its checkpoint
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
                self._clbench_config.for_task(TaskContext(task, task_steps, self._seed)),
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
        super()._after_training_iteration(**kwargs)  # the clock, the last callback, counts the step
        self._epoch_step += 1
        if self._checkpoint_every and self.clock.train_exp_iterations % self._checkpoint_every == 0:
            next(p for p in self.plugins if isinstance(p, DivergenceCheck)).check(self)  # no diverged checkpoint
            self._on_checkpoint(self.in_task_state())

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

    def _before_training_exp(self, **kwargs):
        """After the task's batches, optimizer and callbacks are set up as for a fresh task: a resumed
        task restores its optimizer, schedules, clock, batch order and random states."""
        super()._before_training_exp(**kwargs)
        resume, self.resume_in_task = self.resume_in_task, None
        if resume is None:
            return
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
        self._epochs_done = resume["epoch"]

    def _train_exp(self, experience, eval_streams=None, **kwargs):
        """Avalanche's epoch loop, fresh or resumed alike: a resumed task runs the epochs it has left."""
        epochs, self.train_epochs = self.train_epochs, self.train_epochs - self._epochs_done
        try:
            super()._train_exp(experience, eval_streams, **kwargs)
        finally:
            self.train_epochs, self._epochs_done = epochs, 0

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
