"""Records written as if their runs had completed (or diverged), for tests of what reads them."""

import json

from clbench.records import SCHEMA_VERSION
from clbench.run import RunSpec


def write_record(run: RunSpec, status: str = "completed", val=None, test=None) -> None:
    """A readable record of the planned run with these validation and test accuracy matrices."""
    run.record.parent.mkdir(parents=True, exist_ok=True)
    run.record.write_text(json.dumps({
        "schema_version": SCHEMA_VERSION, "stream": run.stream, "strategy": run.strategy, "backbone": run.backbone,
        "seed": run.seed, "status": status, "tasks": ["a", "b"], "val_accuracy_matrix": val,
        "accuracy_matrix": test or [[0.0, 0.0], [0.0, 0.0]], "baseline_accuracy": [10.0, 10.0], "metrics": {},
        "config": run.config}))
