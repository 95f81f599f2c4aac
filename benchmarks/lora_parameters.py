"""LoRA's trainable parameters (strategy lora, ranks from density) against the weights NanoAdam
updates at the same density, per backbone: what 'as many parameters' means for the controls.

    python benchmarks/lora_parameters.py --out results/benchmarks/lora-parameters.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.records import add_record_arguments, write_record  # noqa: E402
from clbench.registry import strategies  # noqa: E402
from clbench.settings import RunSettings, TaskContext  # noqa: E402
from clbench.training.backbones import create_backbone  # noqa: E402


def nanoadam_selected(backbone) -> int:
    """Entries NanoAdam's masks select (one mask per masked tensor, at its default density)."""
    config = RunSettings(strategies()["nanoadam"].defaults, TaskContext(index=0, steps=1, run_seed=0))
    optimizer = strategies()["nanoadam"].make_optimizer(backbone, torch.nn.Identity(), 1e-3, config)
    for p in backbone.parameters():
        p.grad = torch.ones_like(p)
    optimizer.step()
    return sum(optimizer.mask_index(p).numel() for group in optimizer.param_groups if group["masked"]
               for p in group["params"])


def lora_trainable(backbone) -> tuple[int, int]:
    """(trainable adapter parameters, adapted layers) once lora's adapters are in."""
    plugin = strategies()["lora"].make_callbacks(strategies()["lora"].defaults)[0]
    holder = type("Template", (), {"model": type("Model", (), {"backbone": backbone})(), "checkpoints_in_task": False})
    plugin.after_train_dataset_adaptation(holder())
    trainable = {name: p for name, p in backbone.named_parameters() if p.requires_grad}
    return sum(p.numel() for p in trainable.values()), len({name.split(".lora_")[0] for name in trainable})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", default="efficientnet_lite0,efficientnet_lite2")
    add_record_arguments(parser, table=False)
    args = parser.parse_args()
    rows = []
    print("| backbone | NanoAdam's selected weights | LoRA's parameters | x NanoAdam | adapted layers |\n|---|---|---|---|---|")
    for name in args.backbones.split(","):
        selected = nanoadam_selected(create_backbone(name)[0])
        lora, layers = lora_trainable(create_backbone(name)[0])
        rows.append({"backbone": name, "nanoadam_selected": selected, "lora_parameters": lora,
                     "ratio": lora / selected, "adapted_layers": layers})
        print(f"| {name} | {selected} | {lora} | {lora / selected:.3f} | {layers} |")
    write_record(args.out, "cpu", rows=rows)


if __name__ == "__main__":
    main()
