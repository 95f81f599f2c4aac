"""Step time, state and operations per step of clbench's optimizers against torch AdamW, same run.

    python benchmarks/optimizers.py                              # three timm structures on CPU
    python benchmarks/optimizers.py --models vit_large_patch16_224 --device cuda
    python benchmarks/optimizers.py --out results/benchmarks/optimizers-cpu.json
    python benchmarks/optimizers.py --table results/benchmarks/optimizers-cpu.json   # a record's table

Each model is a timm model as clbench trains it (random init, a 10-class head), with fixed random
gradients. Step time is the mean over the timed steps after one warm-up step; NanoAdam's timed
steps are one full mask interval, so they include exactly one mask refresh (its amortised cost),
and its "refresh ms" is that step's time less the median of the others. Ratios are against torch
AdamW (foreach and fused) measured in the same run. "buffers MB" is the memory clbench's fast
optimizers keep between steps beside their state (flat indices, scratch, layout maps; state_dict()
holds none of it). "aten calls" counts the top-level aten operations of one step (torch.profiler),
the number that bounds kernel launches on a GPU.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import statistics
import sys
import time
from pathlib import Path

import timm
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.records import add_record_arguments, print_record_table, write_record  # noqa: E402
from clbench.optim import MicroAdam, NanoAdam  # noqa: E402
from clbench.optim.galore import GaLoreAdamW, galore_param_groups  # noqa: E402
from clbench.optim.microadam import BUCKET_ENTRIES  # noqa: E402
from clbench.optim.microadam_reference import MicroAdamReference  # noqa: E402
from clbench.optim.nanoadam_reference import NanoAdamReference  # noqa: E402
from clbench.optim.op_count import top_level_aten_calls  # noqa: E402
from clbench.optim.param_groups import masked_param_groups  # noqa: E402
from clbench.optim.state import optimizer_state_bytes  # noqa: E402
from clbench.quiet import import_quietly  # noqa: E402

MODELS = "efficientnet_lite0,resnet50,vit_base_patch16_224"
BASELINES = ("AdamW (torch, foreach)", "AdamW (torch, fused)")


def optimizers(mask_interval: int) -> dict:
    """name -> (factory(model), timed steps or None for --steps)."""
    def nanoadam(kind):
        return lambda model: kind(masked_param_groups(model), lr=1e-3, density=0.01, mask_interval=mask_interval)

    def adamw8bit(model):
        return import_quietly("bitsandbytes", "bitsandbytes").optim.AdamW8bit(model.parameters(), lr=1e-4)

    rows = {
        BASELINES[0]: (lambda model: torch.optim.AdamW(model.parameters(), lr=1e-4, foreach=True), None),
        BASELINES[1]: (lambda model: torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True), None),
        f"NanoAdam 1%, m={mask_interval}": (nanoadam(NanoAdam), mask_interval),
        f"NanoAdam (reference) 1%, m={mask_interval}": (nanoadam(NanoAdamReference), mask_interval),
        "MicroAdam (ours) 1%, window 10": (lambda model: MicroAdam(model.parameters(), lr=1e-4), None),
        "MicroAdam (ours), buckets of 2**25 as on CUDA": (
            lambda model: MicroAdam(model.parameters(), lr=1e-4, bucket_entries=BUCKET_ENTRIES["cuda"]), None),
        "MicroAdam (reference) 1%, window 10": (lambda model: MicroAdamReference(model.parameters(), lr=1e-4), None),
        "GaLore rank 256": (lambda model: GaLoreAdamW(galore_param_groups(model, rank=256), lr=1e-4), None),
        "AdamW-8bit (bitsandbytes)": (adamw8bit, None),
    }
    if importlib.util.find_spec("bitsandbytes") is None:  # make gpu-check carries no bitsandbytes
        del rows["AdamW-8bit (bitsandbytes)"]
    return rows


def make_model(name: str, device: str) -> torch.nn.Module:
    torch.manual_seed(0)
    model = timm.create_model(name, pretrained=False, num_classes=10).to(device)
    generator = torch.Generator(device=device).manual_seed(1)
    for p in model.parameters():
        p.grad = torch.randn(p.shape, generator=generator, device=device)
    return model


def measure(optimizer, steps: int, device: str) -> tuple[list[float], int, int, int]:
    """(seconds of each timed step, state bytes, bytes of the buffers kept beside the state,
    top-level aten calls of one more step)."""
    optimizer.step()  # warm-up: allocates the state (and takes NanoAdam's first mask)
    times = call_seconds(optimizer.step, steps, device)
    buffers = optimizer.buffer_bytes() if hasattr(optimizer, "buffer_bytes") else 0
    return times, optimizer_state_bytes(optimizer), buffers, top_level_aten_calls(optimizer.step)


def call_seconds(run, calls: int, device: str = "cpu") -> list[float]:
    """Seconds of each of `calls` calls of run(), the device synchronised around each."""
    times = []
    for _ in range(calls):
        sync(device)
        start = time.perf_counter()
        run()
        sync(device)
        times.append(time.perf_counter() - start)
    return times


TABLE_HEADER = ("| model | params | tensors | optimizer | step ms | x AdamW foreach | x AdamW fused | state MB "
                "| x AdamW | buffers MB | aten calls | refresh ms |\n" + "|---" * 12 + "|")


def table_row(row: dict) -> str:
    refresh = "" if row["refresh_ms"] is None else f"{row['refresh_ms']:.1f}"
    return (f"| {row['model']} | {row['params'] / 1e6:.1f}M | {row['tensors']} | {row['optimizer']} "
            f"| {row['step_ms']:.2f} | {row['time_ratio']:.3f} | {row['fused_time_ratio']:.3f} "
            f"| {row['state_bytes'] / 2**20:.2f} | {row['state_ratio']:.4f} | {row['buffer_bytes'] / 2**20:.2f} "
            f"| {row['aten_calls']} | {refresh} |")


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=MODELS, help="timm model names, comma-separated")
    parser.add_argument("--optimizers", help="names (or unique prefixes) of the rows to run; default: all")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=10, help="timed steps (NanoAdam: one mask interval)")
    parser.add_argument("--mask-interval", type=int, default=100)
    add_record_arguments(parser)
    args = parser.parse_args()
    if args.table:
        return print_record_table(args.table, TABLE_HEADER, table_row)
    chosen = optimizers(args.mask_interval)
    if args.optimizers:
        wanted = [part.strip() for part in args.optimizers.split(",")]
        chosen = {name: entry for name, entry in chosen.items()
                  if name in BASELINES or any(name.startswith(prefix) for prefix in wanted)}

    rows = []
    print(TABLE_HEADER)
    for model_name in args.models.split(","):
        model = make_model(model_name, args.device)
        count, tensors = sum(p.numel() for p in model.parameters()), len(list(model.parameters()))
        measured = {}
        for name, (factory, steps) in chosen.items():
            optimizer = factory(model)
            times, state, buffers, calls = measure(optimizer, steps or args.steps, args.device)
            del optimizer
            gc.collect()
            seconds = statistics.fmean(times)
            measured[name] = (seconds, state)
            foreach, fused = measured[BASELINES[0]], measured.get(BASELINES[1], (float("nan"),))
            row = dict(model=model_name, params=count, tensors=tensors, optimizer=name, step_ms=1e3 * seconds,
                       time_ratio=seconds / foreach[0], fused_time_ratio=seconds / fused[0], state_bytes=state,
                       state_ratio=state / foreach[1], buffer_bytes=buffers, aten_calls=calls,
                       refresh_ms=1e3 * (times[-1] - statistics.median(times[:-1])) if steps else None)
            rows.append(row)
            print(table_row(row), flush=True)
        del model
        gc.collect()
    write_record(args.out, args.device, rows=rows)


if __name__ == "__main__":
    main()
