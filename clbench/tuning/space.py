"""The space `clbench tune` searches: by default a log grid of learning rates centred on the
strategy's own, the same number of points for every strategy; any --set key can join it."""

from __future__ import annotations

import itertools

from clbench.assignments import value_text
from clbench.errors import UsageError
from clbench.registry import closest
from clbench.settings import PER_TASK_KEYS

DEFAULT_POINTS = 7
DEFAULT_DECADES = 3.0


def lr_grid(center: list[float], points: int = DEFAULT_POINTS, decades: float = DEFAULT_DECADES) -> list[list[float]]:
    """`points` learning rates (one list per point, one value per task) spaced evenly in log10
    over `decades` decades centred on `center`, rounded to 2 significant digits."""
    if points < 2 or decades <= 0:
        raise UsageError(f"an lr grid needs at least 2 points over a positive span, got {points} points over "
                         f"{decades} decades; fix --points / --decades")
    return [[_round(c * 10 ** (decades * (i / (points - 1) - 0.5))) for c in center] for i in range(points)]


def widened(grid: list[list[float]], edge: str, points: int = 2) -> list[list[float]]:
    """`points` more learning rates beyond the grid's lowest or highest, at the grid's own log step."""
    ratio = (grid[-1][0] / grid[0][0]) ** (1 / (len(grid) - 1)) if len(grid) > 1 else 10.0
    end = grid[0] if edge == "lowest" else grid[-1]
    step = 1 / ratio if edge == "lowest" else ratio
    more = [[_round(c * step ** k) for c in end] for k in range(1, points + 1)]
    return [*reversed(more), *grid] if edge == "lowest" else [*grid, *more]


def _round(x: float) -> float:
    return float(f"{x:.2g}")


def parse_space(texts: list[str], config: dict) -> dict[str, list]:
    """{key: values} from --space KEY=V1,V2,... (lr's values are one per point, for every task)."""
    space = {}
    for text in texts:
        key, sep, values = text.partition("=")
        key = key.strip()
        if not sep or not values.strip():
            raise UsageError(f"--space {text!r} is not KEY=V1,V2,...; e.g. --space weight_decay=0,0.01")
        if key not in config:
            raise UsageError(f"unknown --space key {key!r}; {closest(key, config)}")
        if key in space:
            raise UsageError(f"--space {key} is given twice; give its values once, comma-separated")
        parts = [part.strip() for part in values.split(",")]
        if key in PER_TASK_KEYS:
            try:
                space[key] = [[float(p)] * len(config[key]) for p in parts]
            except ValueError:
                raise UsageError(f"--space {text!r}: every value of {key} must be a number") from None
        else:
            space[key] = parts
    return space


def point_assignments(space: dict[str, list]) -> list[dict[str, str]]:
    """Every point of the space's product, as {key: --set text}."""
    texts = {key: [value_text(value) for value in values] for key, values in space.items()}
    return [dict(zip(texts, combo)) for combo in itertools.product(*texts.values())]

