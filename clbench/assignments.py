"""The text form of settings, `--set key=value` (value: one, or comma-separated one per task), read
in this one place."""

from __future__ import annotations

from clbench.errors import UsageError


def split_assignment(assignment: str) -> tuple[str, str]:
    """"key=value" as (key, value text), both stripped; UsageError when there is no '='."""
    key, sep, text = assignment.partition("=")
    if not sep:
        raise UsageError(f"--set {assignment!r} is not key=value; e.g. --set epochs=2")
    return key.strip(), text.strip()


def assigned_keys(assignments) -> set[str]:
    """The keys the assignments set."""
    return {split_assignment(assignment)[0] for assignment in assignments}


def per_task_texts(text: str) -> list[str]:
    """"1e-3,2e-3" as ["1e-3", "2e-3"]: a per-task setting's values, one or one per task."""
    return [part.strip() for part in text.split(",")]


def value_text(value) -> str:
    """The --set text of a setting's value: true/false, a per-task list with one value for every
    task written once, else its values comma-separated."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return value_text(value[0]) if len(set(map(str, value))) == 1 else ",".join(value_text(v) for v in value)
    return str(value)
