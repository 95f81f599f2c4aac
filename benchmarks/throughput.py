"""Training images/s through clbench's harness against a plain PyTorch loop and Avalanche's Naive
strategy over the same model, data, optimizer and batch size, measured in the same run, on each
backbone given: a real one where the model's own work hides the harness, and timm's tiny
test_efficientnet (99k parameters, random weights) where the per-step overhead is most of the time.

    python benchmarks/throughput.py                                 # CPU: Lite0 and the tiny model at 32 px
    python benchmarks/throughput.py --device cuda --out results/benchmarks/throughput-cuda.json

The harness's time is the first task's training time from its run record (`timing.train_s`); the
plain loop trains a fresh copy of the same model on the same task's tensors, held on the device;
Avalanche's Naive trains another from the task's data set through its DataLoader, as an Avalanche
user would. Each runs once to warm up, then --repeats times in turns; the median pass counts, and
the record keeps every pass. --compile adds clbench with compile=true (torch.compile of the
backbone), whose warm-up pass holds the compilation.

    python benchmarks/throughput.py --compile --out results/benchmarks/throughput-cpu.json
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.records import add_record_arguments, write_record  # noqa: E402
from clbench.config import resolve_config  # noqa: E402
from clbench.data.datasets import DataSource  # noqa: E402
from clbench.registry import get_strategy, get_stream  # noqa: E402
from clbench.streams import load_stream  # noqa: E402
from clbench.training.backbones import BACKBONES, create_backbone  # noqa: E402
from clbench.training.engine import RunRequest, run_experiment  # noqa: E402
from clbench.training.model import ImageInput, TaskHeadsModel  # noqa: E402

TINY = "test_efficientnet"


def fresh_model(stream, config: dict, backbone_name: str, device: str):
    """The run's model for task 0 as the harness builds it, and task 0's data."""
    torch.manual_seed(0)
    weights = Path(config["weights"]) if config["weights"] else None
    backbone, data_config, _ = create_backbone(backbone_name, weights)
    size = config["image_size"] or data_config["input_size"][-1]
    task = load_stream(stream, config, DataSource(), size)[0]
    model = TaskHeadsModel(backbone, [task.num_classes],
                           ImageInput(size, data_config["mean"], data_config["std"], config["augment"])).to(device)
    if torch.device(device).type == "cuda" and config["channels_last"]:
        model = model.to(memory_format=torch.channels_last)
    return model, task


def plain_loop(stream, config: dict, backbone_name: str, device: str) -> float:
    """Seconds for config["epochs"] epochs over task 0: the loop a researcher would write by hand."""
    model, task = fresh_model(stream, config, backbone_name, device)
    cuda = torch.device(device).type == "cuda"
    optimizer = torch.optim.AdamW([*model.backbone.parameters(), *model.heads[0].parameters()], lr=config["lr"][0])
    loss_fn = torch.nn.CrossEntropyLoss()
    images, labels = task.train_x.to(device), task.train_y.to(device)
    model.train()
    sync(device)
    start = time.perf_counter()
    for _ in range(config["epochs"]):
        for batch in torch.randperm(len(labels)).to(device).split(config["batch_size"]):
            x, y = images[batch], labels[batch]
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=cuda and config["amp"]):
                loss = loss_fn(model(x, 0), y)
            loss.backward()
            optimizer.step()
    sync(device)
    return time.perf_counter() - start


def avalanche_naive(stream, config: dict, backbone_name: str, device: str) -> float:
    """Seconds for Avalanche's Naive strategy to train task 0 (its DataLoader, its training loop)."""
    from avalanche.benchmarks import tensors_benchmark
    from avalanche.training import Naive

    model, task = fresh_model(stream, config, backbone_name, device)
    benchmark = tensors_benchmark(train_tensors=[(task.train_x, task.train_y)],
                                  test_tensors=[(task.test_x, task.test_y)], task_labels=[0])
    optimizer = torch.optim.AdamW([*model.backbone.parameters(), *model.heads[0].parameters()], lr=config["lr"][0])
    naive = Naive(model=model, optimizer=optimizer, criterion=torch.nn.CrossEntropyLoss(),
                  train_mb_size=config["batch_size"], train_epochs=config["epochs"], device=device, evaluator=None)
    sync(device)
    start = time.perf_counter()
    naive.train(benchmark.train_stream[0], num_workers=0)
    sync(device)
    return time.perf_counter() - start


def harness(stream, config: dict, backbone_name: str, device: str) -> float:
    record = run_experiment(RunRequest(stream, get_strategy("adamw"), backbone_name, 0, config, device, DataSource()),
                            progress=False)
    return record["timing"]["train_s"][0]


def compiled_harness(stream, config: dict, backbone_name: str, device: str) -> float:
    return harness(stream, {**config, "compile": True}, backbone_name, device)


def sync(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def measure(stream, config: dict, backbone: str, device: str, images: int, compiled: bool, repeats: int) -> dict:
    loops = {"plain": plain_loop, "clbench": harness, "avalanche_naive": avalanche_naive,
             **({"clbench_compiled": compiled_harness} if compiled else {})}
    first = {name: loop(stream, config, backbone, device) for name, loop in loops.items()}  # warm-up, compilation
    passes = {name: [] for name in loops}
    for _ in range(repeats):  # in turns, so that a slow spell of a shared machine hits every loop alike
        for name, loop in loops.items():
            passes[name].append(loop(stream, config, backbone, device))
    seconds = {name: statistics.median(times) for name, times in passes.items()}
    row = {"backbone": backbone, **{f"{name}_images_per_s": images / s for name, s in seconds.items()}}
    row.update({f"{name}_ratio": seconds["plain"] / s for name, s in seconds.items() if name != "plain"})
    row.update({f"{name}_first_pass_s": s for name, s in first.items()})
    row.update({f"{name}_passes_s": times for name, times in passes.items()})
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stream", default="fashionmnist_mnist")
    parser.add_argument("--backbones", default=f"efficientnet_lite0,{TINY}",
                        help="comma-separated; one outside the offline ones gets random weights")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--per-class", type=int, default=50, help="training images per class of task 0")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5, help="timed passes of each loop (the median is kept)")
    parser.add_argument("--compile", action="store_true", help="also time clbench with the setting compile=true")
    add_record_arguments(parser, table=False)
    args = parser.parse_args()
    torch.set_flush_denormal(True)
    warnings.simplefilter("ignore")  # Avalanche warns that no loggers are set

    stream = get_stream(args.stream)
    images = args.epochs * args.per_class * 10
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for backbone in args.backbones.split(","):
            settings = [f"image_size={args.image_size}", f"train_per_class={args.per_class}", "test_per_class=10",
                        f"batch_size={args.batch_size}", f"epochs={args.epochs}", "val_fraction=0"]
            if backbone not in BACKBONES:  # no hub here: the same random weights for all three loops
                weights = Path(folder) / f"{backbone}.pt"
                torch.manual_seed(0)
                torch.save(create_backbone(backbone, pretrained=False)[0].state_dict(), weights)
                settings.append(f"weights={weights}")
            config = resolve_config(stream, get_strategy("adamw"), settings, backbone=backbone)
            rows.append(measure(stream, config, backbone, args.device, images, args.compile, args.repeats))
    print("| backbone | plain PyTorch images/s | clbench images/s | x plain | Avalanche Naive images/s | x plain |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['backbone']} | {row['plain_images_per_s']:.1f} | {row['clbench_images_per_s']:.1f} | "
              f"{row['clbench_ratio']:.3f} | {row['avalanche_naive_images_per_s']:.1f} | "
              f"{row['avalanche_naive_ratio']:.3f} |")
    if args.compile:
        print("\n| backbone | clbench images/s | compile=true images/s | x clbench | first pass s | compile=true first pass s |")
        print("|---|---|---|---|---|---|")
        for row in rows:
            print(f"| {row['backbone']} | {row['clbench_images_per_s']:.1f} | {row['clbench_compiled_images_per_s']:.1f} "
                  f"| {row['clbench_compiled_images_per_s'] / row['clbench_images_per_s']:.3f} "
                  f"| {row['clbench_first_pass_s']:.1f} | {row['clbench_compiled_first_pass_s']:.1f} |")
    write_record(args.out, args.device, images=images, batch_size=args.batch_size, image_size=args.image_size,
                 repeats=args.repeats, rows=rows)


if __name__ == "__main__":
    main()
