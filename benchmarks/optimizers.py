"""Step time and state bytes of clbench's optimizers against torch AdamW (foreach), same run.

    python benchmarks/optimizers.py                       # 1M, 10M, 100M parameters on CPU
    python benchmarks/optimizers.py --sizes 1e8,1e9 --device cuda
    python benchmarks/optimizers.py --out results/benchmarks/optimizers-cpu.json

Each model is a list of 1024 x 1024 weight matrices (the last one shorter) with fixed random
gradients. Step time is the mean over timed steps after one warm-up step; for NanoAdam the timed
steps are one full mask interval, so they include exactly one mask refresh (its amortised cost).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from clbench.atomic import write_text_atomically  # noqa: E402
from clbench.optim import MicroAdam, NanoAdam  # noqa: E402
from clbench.quiet import import_quietly  # noqa: E402
from clbench.optim.state import optimizer_state_bytes  # noqa: E402
from clbench.records import environment  # noqa: E402

MATRIX = 1024 * 1024


def make_params(count: int, device: str) -> list[torch.nn.Parameter]:
    generator = torch.Generator().manual_seed(0)
    sizes = [MATRIX] * (count // MATRIX) + ([count % MATRIX] if count % MATRIX else [])
    params = []
    for size in sizes:
        rows = max(1, size // 1024)
        p = torch.nn.Parameter(torch.randn(rows, size // rows, generator=generator).to(device))
        p.grad = torch.randn(p.shape, generator=generator).to(device)
        params.append(p)
    return params


def optimizers(mask_interval: int) -> dict:
    """name -> (factory(params), timed steps or None for the default)."""
    from clbench.optim.galore import GaLoreAdamW

    bitsandbytes = import_quietly("bitsandbytes", "bitsandbytes")
    return {
        "AdamW (torch, foreach)": (lambda ps: torch.optim.AdamW(ps, lr=1e-4, foreach=True), None),
        "NanoAdam 1%, m=100": (lambda ps: NanoAdam(ps, lr=1e-3, density=0.01, mask_interval=mask_interval),
                               mask_interval),
        "MicroAdam (ours) 1%, window 10": (lambda ps: MicroAdam(ps, lr=1e-4), None),
        "GaLore rank 256": (lambda ps: GaLoreAdamW([{"params": ps, "rank": 256, "update_proj_gap": 200,
                                                     "scale": 1.0, "proj_type": "std"}], lr=1e-4), None),
        "AdamW-8bit (bitsandbytes)": (lambda ps: bitsandbytes.optim.AdamW8bit(ps, lr=1e-4), None),
    }


def measure(factory, params, steps: int, device: str) -> tuple[float, int]:
    optimizer = factory(params)
    optimizer.step()  # warm-up: allocates the state (and takes NanoAdam's first mask)
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        optimizer.step()
    sync(device)
    return (time.perf_counter() - start) / steps, optimizer_state_bytes(optimizer)


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1e6,1e7,1e8", help="parameter counts, comma-separated")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=10, help="timed steps (NanoAdam: one mask interval)")
    parser.add_argument("--mask-interval", type=int, default=100)
    parser.add_argument("--out", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args()

    rows = []
    print("| params | optimizer | step ms | x AdamW | state MB | x AdamW |")
    print("|---|---|---|---|---|---|")
    for count in (int(float(s)) for s in args.sizes.split(",")):
        baseline = None
        for name, (factory, steps) in optimizers(args.mask_interval).items():
            params = make_params(count, args.device)
            seconds, state = measure(factory, params, steps or args.steps, args.device)
            baseline = baseline or (seconds, state)
            row = dict(params=count, optimizer=name, step_ms=1e3 * seconds, time_ratio=seconds / baseline[0],
                       state_bytes=state, state_ratio=state / baseline[1])
            rows.append(row)
            print(f"| {count / 1e6:g}M | {name} | {row['step_ms']:.2f} | {row['time_ratio']:.3f} "
                  f"| {state / 2**20:.2f} | {row['state_ratio']:.4f} |", flush=True)
            del params
    if args.out:
        record = {"command": " ".join(sys.argv), "env": environment(args.device), "rows": rows}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomically(args.out, json.dumps(record, indent=1))


if __name__ == "__main__":
    torch.manual_seed(0)
    main()
