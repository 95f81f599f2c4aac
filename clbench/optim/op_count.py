"""Counting the operations an optimizer step issues: top-level aten calls under torch.profiler, the
number that bounds kernel launches on a GPU (an aten call inside another, e.g. a view inside a
copy, is not counted)."""

from __future__ import annotations

from collections import Counter
from typing import Callable

from torch.profiler import ProfilerActivity, profile


def top_level_aten_calls(run: Callable[[], object]) -> int:
    """How many aten operations `run()` calls that no other aten operation called."""
    return sum(top_level_aten_counts(run).values())


def top_level_aten_counts(run: Callable[[], object]) -> Counter:
    """The aten operations `run()` calls that no other aten operation called, by name."""
    return Counter(event.name for event in top_level_aten(profiled_events(run)))


def profiled_events(run: Callable[[], object]) -> list:
    """torch.profiler's CPU events of `run()`; an event's cpu_time_total includes those it called."""
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        run()
    return list(profiler.events())


def top_level_aten(events: list) -> list:
    """The events of aten operations that no other aten operation called."""
    return [event for event in events if is_aten(event) and not _inside_aten(event)]


def is_aten(event) -> bool:
    return event.name.startswith("aten::")


def _inside_aten(event) -> bool:
    parent = event.cpu_parent
    while parent is not None:
        if is_aten(parent):
            return True
        parent = parent.cpu_parent
    return False

