"""Checkpoints of a run in progress: the model with every head, the partial results, every random
number generator, what a method's callbacks hold (clbench.methods.state) and, inside a task, the
optimizer, the learning-rate schedule and the position in the epoch. A run resumed from one finishes with the same record as a run never interrupted.

Files are written atomically beside the records (`<results>/checkpoints/<record name>.pt`) and
read with torch.load(weights_only=True): loading one never runs code from the file.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from clbench.atomic import write_bytes_atomically
from clbench.errors import UsageError
from clbench.quiet import silenced

CHECKPOINT_VERSION = 2


@dataclass(frozen=True)
class Checkpointing:
    path: Path
    every_steps: int = 0  # 0: only at task boundaries
    keep: bool = False  # keep the last checkpoint after the run completes


def checkpoint_path(results_dir: Path, record_file: Path) -> Path:
    return Path(results_dir) / "checkpoints" / f"{Path(record_file).stem}.pt"


def save_checkpoint(path: Path, state: dict) -> None:
    """Writes state, tagged with the run it belongs to: the file's name, which is the record's."""
    buffer = io.BytesIO()
    torch.save({"version": CHECKPOINT_VERSION, "run": path.stem, **state}, buffer)
    write_bytes_atomically(path, buffer.getvalue())


def load_checkpoint(path: Path) -> dict | None:
    """The checkpoint at path, None when there is none. One that cannot be read, or that belongs
    to another run, is a UsageError naming the file and the fix."""
    if not path.exists():
        return None
    try:
        with silenced():  # torch warns about pickle protocols it then reads or refuses anyway
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated, corrupt, or holding objects weights_only refuses
        raise UsageError(f"checkpoint {path} cannot be read ({type(exc).__name__}); delete it to start the run "
                         "afresh") from None
    if not isinstance(state, dict) or state.get("version") != CHECKPOINT_VERSION or state.get("run") != path.stem:
        raise UsageError(f"checkpoint {path} is not a checkpoint of this run; delete it to start the run afresh")
    return state


def rng_states() -> dict:
    """Every generator training may draw from: torch (CPU and CUDA), NumPy and Python's."""
    numpy_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": [numpy_state[0], torch.from_numpy(numpy_state[1].copy()), *numpy_state[2:]],
        "python": random.getstate(),
    }


def restore_rng_states(states: dict) -> None:
    torch.set_rng_state(states["torch"])
    if states["cuda"]:
        torch.cuda.set_rng_state_all(states["cuda"])
    name, keys, *rest = states["numpy"]
    np.random.set_state((name, keys.numpy(), *rest))
    random.setstate(_as_tuples(states["python"]))


def _as_tuples(value):
    """Python's generator state is nested tuples; serialisation may hand them back as lists."""
    return tuple(_as_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value
