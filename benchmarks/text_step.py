"""One training step of the text streams' encoder (all-MiniLM-L6-v2 with a linear head, AdamW, a
batch of full-length texts) by tokens a text, torch threads and torch.compile: what makes a text
trial cheapest on a machine of few cores. The baseline is the first row (the most tokens, 1 thread,
not compiled); "texts/s a core" says whether 2 runs of 1 thread each train faster than 1 run of 2.

    python benchmarks/text_step.py --out results/benchmarks/text-step-cpu.json
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.records import add_record_arguments, print_record_table, write_record  # noqa: E402
from clbench.training.offline_backbones import MINILM  # noqa: E402
from clbench.training.text_backbones import create_text_backbone  # noqa: E402

HEADER = ("| tokens | threads | compiled | step ms | x baseline | texts/s a core |\n"
          "|---|---|---|---|---|---|")


def table_row(row: dict) -> str:
    return (f"| {row['tokens']} | {row['threads']} | {row['compiled']} | {row['step_ms']:.0f} | "
            f"{row['time_ratio']:.3f} | {row['texts_per_core_s']:.2f} |")


def step_ms(tokens: int, threads: int, compiled: bool, batch_size: int, steps: int, warmup: int) -> float:
    """The median of `steps` timed training steps, after `warmup` untimed ones (compilation included)."""
    torch.manual_seed(0)
    torch.set_num_threads(threads)
    encoder, tokenizer, _ = create_text_backbone(MINILM)
    model = torch.nn.Sequential(encoder, torch.nn.Linear(encoder.num_features, 5))
    forward = torch.compile(model) if compiled else model
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    low = max(tokenizer.all_special_ids) + 1  # ordinary tokens: none is padding
    ids = torch.randint(low, tokenizer.vocab_size, (batch_size, tokens))
    labels = torch.randint(0, 5, (batch_size,))
    times = []
    for step in range(warmup + steps):
        started = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(forward(ids), labels).backward()
        optimizer.step()
        if step >= warmup:
            times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", default="128,64,32", help="tokens a text, the first the baseline's")
    parser.add_argument("--threads", default="1,2", help="torch threads, the first the baseline's")
    parser.add_argument("--compile-tokens", default="128", help="token counts also timed compiled ('' for none)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    add_record_arguments(parser)
    args = parser.parse_args()
    if args.table:
        print_record_table(args.table, HEADER, table_row)
        return
    threads = [int(n) for n in args.threads.split(",")]
    compiled_at = {int(n) for n in args.compile_tokens.split(",") if n}
    configurations = [(tokens, n, compiled) for tokens in map(int, args.tokens.split(",")) for compiled in (False, True)
                      if not compiled or tokens in compiled_at for n in threads]
    rows = []
    print(HEADER)
    for tokens, n, compiled in configurations:
        ms = step_ms(tokens, n, compiled, args.batch_size, args.steps, args.warmup)
        row = {"tokens": tokens, "threads": n, "compiled": compiled, "batch_size": args.batch_size, "step_ms": ms,
               "time_ratio": ms / (rows[0]["step_ms"] if rows else ms),
               "texts_per_core_s": args.batch_size / (ms / 1000) / n}
        rows.append(row)
        print(table_row(row), flush=True)
    write_record(args.out, "cpu", rows=rows)


if __name__ == "__main__":
    main()
