"""What a run has measured so far: the record a checkpoint stores, with its version."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from clbench.errors import UsageError

# 1: before output_kl, reference_log_probs and val_epoch_accuracy (checkpoints with no version)
VERSION = 2


@dataclass
class Progress:
    baseline: list[float]  # every task's test accuracy before training
    val_baseline: list[float] | None  # the same on validation data (None with val_fraction 0)
    matrix: list[list[float]] = field(default_factory=list)  # test accuracy of every task after each task
    val_matrix: list[list[float]] = field(default_factory=list)
    state_bytes: list[int] = field(default_factory=list)  # the optimizer's state after each task
    method_bytes: list[int] = field(default_factory=list)  # a method's held state after each task
    mask_refreshes: list[int | None] = field(default_factory=list)
    task_s: list[float] = field(default_factory=list)
    train_s: list[float] = field(default_factory=list)
    elapsed_s: float = 0.0  # wall time of the run's earlier processes (before the checkpoint it resumed from)
    output_kl: list[list[float]] = field(default_factory=list)
    reference_log_probs: dict = field(default_factory=dict)  # each task's test predictions right after it
    val_epoch_accuracy: list[list[float]] = field(default_factory=list)

    @property
    def tasks_done(self) -> int:
        return len(self.matrix)

    def as_dict(self, elapsed_s: float) -> dict:
        """What a checkpoint stores, with the run's wall time so far."""
        return {"version": VERSION, **{f.name: getattr(self, f.name) for f in fields(self)}, "elapsed_s": elapsed_s}

    @classmethod
    def from_dict(cls, stored: dict) -> Progress:
        """A checkpoint's progress; one of version 1 gets the measures added since, empty."""
        stored = dict(stored)
        version = stored.pop("version", 1)
        if version > VERSION:
            raise UsageError(f"the checkpoint's progress is of version {version}, newer than this clbench's "
                             f"{VERSION}; update clbench, or run again with --restart")
        return cls(**stored)
