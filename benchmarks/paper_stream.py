"""A short run of the paper's stream (cifar10_flowers102) on files generated in torchvision's
on-disk layout: the whole pipeline on a GPU, with bf16 autocast and channels-last as runs use them.

    python benchmarks/paper_stream.py --device cuda --out results/benchmarks/paper-stream-cuda.json

The files are random images (CIFAR-10's pickled batches, Flowers102's jpg folder and .mat files),
so accuracies mean nothing: the record shows that every stage runs, what precision took effect, and
the time per task.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import types
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fake_torchvision import trust_cifar, trust_flowers102, write_cifar, write_flowers102  # noqa: E402
from torchvision import datasets as tv  # noqa: E402

from clbench.atomic import write_text_atomically  # noqa: E402
from clbench.config import resolve_config, trained_strategy  # noqa: E402
from clbench.data.datasets import DataSource  # noqa: E402
from clbench.registry import get_strategy, get_stream  # noqa: E402
from clbench.training.engine import RunRequest, run_experiment  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--strategy", default="nanoadam")
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--out", type=Path, help="also write the run record here")
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # Avalanche warns that no loggers are set
    # torchvision checks the files' md5 sums: point its lists at the generated files
    patch = types.SimpleNamespace(setattr=setattr)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        write_cifar(root, tv.CIFAR10, per_class=20)
        trust_cifar(patch, root, tv.CIFAR10)
        write_flowers102(root, classes=5, train_per_class=8, test_per_class=4)
        trust_flowers102(patch, root)
        stream, strategy = get_stream("cifar10_flowers102"), get_strategy(args.strategy)
        config = resolve_config(stream, strategy, ["epochs=1", "train_per_class=8", "test_per_class=4",
                                                   "image_size=224", "batch_size=32"], backbone=args.backbone)
        record = run_experiment(RunRequest(stream, trained_strategy(strategy, config), args.backbone, 0, config, args.device,
                                           DataSource(root, download=False)), progress=False)
    print(f"{record['status']}: tasks {record['tasks']}, train s {record['timing']['train_s']}, "
          f"effective {record['effective']}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomically(args.out, json.dumps(record, indent=1))
    sys.exit(0 if record["status"] == "completed" else 1)


if __name__ == "__main__":
    main()
