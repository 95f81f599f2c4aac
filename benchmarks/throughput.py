"""Training images/s through clbench's harness against a plain PyTorch loop over the same model,
data, optimizer and batch size, measured in the same run.

    python benchmarks/throughput.py                                 # CPU, EfficientNet-Lite0 at 32 px
    python benchmarks/throughput.py --device cuda --image-size 224 --per-class 500 --batch-size 128

The harness's time is the first task's training time from its run record (`timing.train_s`); the
plain loop trains a fresh copy of the same model on the same task's tensors, held on the device. The plain loop runs
once before the harness to warm up, and once after it for the figure reported.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.records import add_record_arguments, write_record  # noqa: E402
from clbench.training.backbones import create_backbone  # noqa: E402
from clbench.config import resolve_config  # noqa: E402
from clbench.data.datasets import DataSource  # noqa: E402
from clbench.training.engine import RunRequest, run_experiment  # noqa: E402
from clbench.training.model import ImageInput, TaskHeadsModel  # noqa: E402
from clbench.registry import get_strategy, get_stream  # noqa: E402
from clbench.streams import load_stream  # noqa: E402


def plain_loop(stream, config: dict, backbone_name: str, device: str) -> float:
    """Seconds for config["epochs"] epochs over task 0: the loop a researcher would write by hand."""
    torch.manual_seed(0)
    backbone, data_config, _ = create_backbone(backbone_name)
    size = config["image_size"] or data_config["input_size"][-1]
    task = load_stream(stream, config, DataSource(), size)[0]
    model = TaskHeadsModel(backbone, [task.num_classes],
                           ImageInput(size, data_config["mean"], data_config["std"], config["augment"]))
    model = model.to(device)
    cuda = torch.device(device).type == "cuda"
    if cuda and config["channels_last"]:
        model = model.to(memory_format=torch.channels_last)
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


def sync(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stream", default="fashionmnist_mnist")
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--per-class", type=int, default=50, help="training images per class of task 0")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=2)
    add_record_arguments(parser, table=False)
    args = parser.parse_args()
    torch.set_flush_denormal(True)
    warnings.simplefilter("ignore")  # Avalanche warns that no loggers are set

    stream, strategy = get_stream(args.stream), get_strategy("adamw")
    config = resolve_config(stream, strategy, [f"image_size={args.image_size}", f"train_per_class={args.per_class}",
                                               "test_per_class=10", f"batch_size={args.batch_size}",
                                               f"epochs={args.epochs}"], backbone=args.backbone)
    plain_loop(stream, config, args.backbone, args.device)  # warm-up
    record = run_experiment(RunRequest(stream, strategy, args.backbone, 0, config, args.device, DataSource()),
                            progress=False)
    harness_s = record["timing"]["train_s"][0]
    plain_s = plain_loop(stream, config, args.backbone, args.device)
    images = args.epochs * args.per_class * 10
    result = dict(images=images, batch_size=args.batch_size, image_size=args.image_size, device=args.device,
                  plain_images_per_s=images / plain_s, clbench_images_per_s=images / harness_s,
                  ratio=plain_s / harness_s)
    print("| loop | images/s | ratio |\n|---|---|---|")
    print(f"| plain PyTorch | {result['plain_images_per_s']:.1f} | 1.000 |")
    print(f"| clbench (Avalanche template, plugins) | {result['clbench_images_per_s']:.1f} | {result['ratio']:.3f} |")
    write_record(args.out, args.device, result=result)


if __name__ == "__main__":
    main()
