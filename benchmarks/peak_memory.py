"""Peak GPU memory of a training step with each optimizer (the paper's Table 3 analogue).

    python benchmarks/peak_memory.py                      # ViT-L/16 at batch 32, bf16 autocast, on CUDA
    python benchmarks/peak_memory.py --model vit_base_patch16_224 --out results/benchmarks/peak-memory-cuda.json

For each optimizer a fresh timm model (random init, a 10-class head) takes two training steps on
one random batch (forward under bf16 autocast, backward, optimizer step), which allocate every
state; the peak of torch.cuda.max_memory_allocated over a third step is reported, with its ratio
to AdamW (foreach) measured in the same run.
"""

from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path

import timm
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.optimizers import optimizers  # noqa: E402
from benchmarks.records import add_record_arguments, write_record  # noqa: E402

from clbench.optim.state import optimizer_state_bytes  # noqa: E402


def training_step(model, optimizer, images, labels) -> None:
    with torch.autocast("cuda", dtype=torch.bfloat16):
        loss = torch.nn.functional.cross_entropy(model(images), labels)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def peak_bytes(model_name: str, factory, batch_size: int) -> tuple[int, int]:
    """(peak bytes allocated during one training step after two warm-up steps, optimizer state bytes)."""
    torch.manual_seed(0)
    model = timm.create_model(model_name, pretrained=False, num_classes=10).cuda()
    size = model.pretrained_cfg["input_size"][-1]
    images = torch.randn(batch_size, 3, size, size, device="cuda")
    labels = torch.randint(0, 10, (batch_size,), device="cuda")
    optimizer = factory(model)
    for _ in range(2):
        training_step(model, optimizer, images, labels)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    training_step(model, optimizer, images, labels)
    torch.cuda.synchronize()
    peak, state = torch.cuda.max_memory_allocated(), optimizer_state_bytes(optimizer)
    del model, optimizer, images, labels
    gc.collect()
    torch.cuda.empty_cache()
    return peak, state


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vit_large_patch16_224")
    parser.add_argument("--batch-size", type=int, default=32)
    add_record_arguments(parser, table=False)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("peak_memory.py measures GPU memory and needs a CUDA GPU; run it on a machine with one")

    rows, baseline = [], None
    print("| model | batch | optimizer | peak GB | x AdamW | state MB |\n|---|---|---|---|---|---|")
    for name, (factory, _) in optimizers(mask_interval=100).items():
        peak, state = peak_bytes(args.model, factory, args.batch_size)
        baseline = baseline or peak
        rows.append(dict(model=args.model, batch_size=args.batch_size, optimizer=name, peak_bytes=peak,
                         peak_ratio=peak / baseline, state_bytes=state))
        print(f"| {args.model} | {args.batch_size} | {name} | {peak / 2**30:.2f} | {peak / baseline:.3f} "
              f"| {state / 2**20:.1f} |", flush=True)
    write_record(args.out, "cuda", rows=rows)


if __name__ == "__main__":
    main()
