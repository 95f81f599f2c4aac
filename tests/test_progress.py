"""The progress record a checkpoint stores: written with its version, read back, old ones upgraded."""

import pytest

from clbench.errors import UsageError
from clbench.training.progress import VERSION, Progress


def test_progress_round_trips_through_a_checkpoint_with_its_version_and_wall_time():
    progress = Progress(baseline=[10.0, 12.0], val_baseline=None, matrix=[[80.0, 11.0]], task_s=[3.5])
    stored = progress.as_dict(elapsed_s=42.0)
    assert stored["version"] == VERSION and stored["elapsed_s"] == 42.0
    again = Progress.from_dict(stored)
    assert again.matrix == [[80.0, 11.0]] and again.elapsed_s == 42.0 and again.tasks_done == 1


def test_a_version_1_checkpoint_gets_the_measures_added_since_empty():
    old = {"baseline": [10.0], "val_baseline": None, "matrix": [[70.0]], "val_matrix": [], "state_bytes": [8],
           "method_bytes": [0], "mask_refreshes": [None], "task_s": [1.0], "train_s": [0.9], "elapsed_s": 5.0}
    progress = Progress.from_dict(old)
    assert progress.output_kl == [] and progress.reference_log_probs == {} and progress.val_epoch_accuracy == []
    assert progress.state_bytes == [8]


def test_a_checkpoint_of_a_newer_version_is_refused_with_the_fix():
    with pytest.raises(UsageError, match="newer than this clbench's.*--restart"):
        Progress.from_dict({**Progress([1.0], None).as_dict(0.0), "version": VERSION + 1})
