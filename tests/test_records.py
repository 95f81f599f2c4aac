"""The one record reader: every committed record is read, upgraded to this schema version."""

import json
from pathlib import Path

import pytest

from clbench.records import SCHEMA_VERSION, RunRecord, completed_record, load_records, read_record

RESULTS = Path(__file__).parents[1] / "results"


@pytest.mark.parametrize("folder", ["runs", "runs-cuda", "tuning"])
def test_every_committed_record_is_read_and_upgraded(folder):
    records, problems = load_records(RESULTS / folder)
    assert problems == [] and records
    assert all(r["schema_version"] == SCHEMA_VERSION and set(RunRecord.__annotations__) <= set(r) for r in records)
    assert all("output_kl" in r["metrics"] for r in records)
    written_as_1 = [r for r in records if json.loads(Path(r["path"]).read_text())["schema_version"] == 1]
    assert written_as_1  # the upgrade is exercised on real records


def test_an_upgraded_record_keeps_every_value_it_had(tmp_path):
    path = next((RESULTS / "runs").glob("fashionmnist_mnist__adamw__*.json"))
    original = json.loads(path.read_text())
    original.pop("output_kl", None), original.pop("effective", None), original["metrics"].pop("output_kl", None)
    (tmp_path / path.name).write_text(json.dumps({**original, "schema_version": 1}))
    upgraded = read_record(tmp_path / path.name)
    assert {k: v for k, v in upgraded.items() if k in original and k not in ("schema_version", "metrics")} == \
        {k: v for k, v in original.items() if k not in ("schema_version", "metrics")}
    assert upgraded["metrics"] == {**original["metrics"], "output_kl": None} and upgraded["output_kl"] is None
    assert upgraded["effective"] == {"device": original["env"]["device"], "amp": False, "channels_last": False}


def test_unknown_schema_versions_and_truncated_records_are_not_read(tmp_path):
    (tmp_path / "future.json").write_text(json.dumps({"schema_version": SCHEMA_VERSION + 1, "status": "completed"}))
    (tmp_path / "cut.json").write_text(json.dumps({"schema_version": 1, "status": "completed"}))
    assert read_record(tmp_path / "future.json") is None and completed_record(tmp_path / "cut.json") is None
