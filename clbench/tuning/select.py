"""Choosing among a tuning's trials by validation accuracy alone; the test data is never looked at."""

from __future__ import annotations

from dataclasses import dataclass, field
from statistics import mean

# How the choice is made. all: one setting for the whole stream, by the final average validation
# accuracy; first_task: one setting chosen on the first task alone, as a continual learner must
# (later tasks are unknown when it starts); per_task: for every task its own learning rate, chosen
# by the average validation accuracy over the tasks seen so far after that task (each trial keeps
# one lr for the whole stream, so a task's choice is made on the history of its own trial).
MODES = ("all", "first_task", "per_task")
OBJECTIVE = "final average validation accuracy over the tasks learnt so far (percent)"


@dataclass
class Trial:
    """One point of the space, over the tuning seeds."""

    assignments: dict[str, str]  # {key: --set text}
    records: list[dict]  # one per seed, as loaded (status, val_accuracy_matrix)
    scores: list[float | None] = field(default_factory=list)  # per task j: mean over seeds of seen_so_far(j)

    def status(self) -> str:
        statuses = {record["status"] for record in self.records}
        return "completed" if statuses == {"completed"} else ", ".join(sorted(statuses - {"completed"}))


def seen_so_far(record: dict) -> list[float]:
    """Per task j: the mean validation accuracy over tasks 0..j right after learning task j."""
    matrix = record["val_accuracy_matrix"]
    return [mean(matrix[j][: j + 1]) for j in range(len(matrix))]


def score_trials(trials: list[Trial], num_tasks: int) -> None:
    """Every trial's scores; None for a task where some seed did not complete (a diverged lr is
    never chosen)."""
    for trial in trials:
        per_seed = [seen_so_far(r) if r["status"] == "completed" else [None] * num_tasks for r in trial.records]
        trial.scores = [None if any(s[j] is None for s in per_seed) else mean(s[j] for s in per_seed)
                        for j in range(num_tasks)]


def best(trials: list[Trial], task: int, lr_of) -> Trial | None:
    """The trial with the highest score on `task`; ties go to the smaller learning rate, then to
    the earlier point of the space. None when no trial completed."""
    scored = [(i, t) for i, t in enumerate(trials) if t.scores[task] is not None]
    if not scored:
        return None
    return min(scored, key=lambda item: (-item[1].scores[task], lr_of(item[1]), item[0]))[1]


def choose(trials: list[Trial], mode: str, num_tasks: int, lr_of) -> list[Trial] | None:
    """The chosen trial for every task (the same one unless mode is per_task)."""
    if mode == "per_task":
        chosen = [best(trials, j, lr_of) for j in range(num_tasks)]
        return None if None in chosen else chosen
    winner = best(trials, 0 if mode == "first_task" else num_tasks - 1, lr_of)
    return None if winner is None else [winner] * num_tasks
