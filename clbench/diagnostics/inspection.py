"""`clbench inspect`: the small-weight diagnostic on the first task of a stream, for the pretrained
backbone and for the same architecture randomly initialised; a record and two figures."""

from __future__ import annotations

import dataclasses
import json
import statistics
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch

from clbench.atomic import write_text_atomically
from clbench.training.backbones import create_model_parts
from clbench.data.datasets import DatasetSpec, DataSource
from clbench.diagnostics.small_weights import LayerDiagnostic, diagnose, diagnosed_parameters, mean_gradient_magnitudes
from clbench.training.model import TaskHeadsModel
from clbench.reporting.plots import plt, save_figure
from clbench.records import SCHEMA_VERSION, environment
from clbench.streams import DATASETS, StreamSpec, load_stream

INITIALISATIONS = ("pretrained", "random")
STAR_POINTS = 4000


@dataclass(frozen=True)
class InspectRequest:
    stream: StreamSpec
    backbone: str
    weights: Path | None
    settings: dict  # image_size or max_tokens, train_per_class, test_per_class, steps, batch_size, lr, top, bottom, fraction
    seed: int
    device: str
    source: DataSource
    datasets: Mapping[str, DatasetSpec] = field(default_factory=lambda: DATASETS)  # where the data set names are looked up


def run_inspection(request: InspectRequest, out_dir: Path) -> tuple[dict, list[Path]]:
    start = time.perf_counter()
    s = request.settings
    first_task = dataclasses.replace(request.stream, tasks=request.stream.tasks[:1])
    layers, samples, task = {}, {}, None
    for init in INITIALISATIONS:
        torch.manual_seed(request.seed)
        parts = create_model_parts(request.backbone, request.weights, s, pretrained=init == "pretrained")
        if task is None:
            task = load_stream(first_task, s, request.source, parts.image_size, datasets=request.datasets,
                               tokenization=parts.tokenization)[0]
        model = TaskHeadsModel(parts.backbone, [task.num_classes], parts.input_layer).to(request.device)
        start_weights = {name: p.detach().cpu().clone() for name, p in diagnosed_parameters(model).items()}
        grads = mean_gradient_magnitudes(model, task.train_x.to(request.device), task.train_y.to(request.device),
                                         s["steps"], s["batch_size"], s["lr"], request.seed)
        grads = {name: g.cpu() for name, g in grads.items()}
        layers[init] = diagnose(start_weights, grads, s["top"], s["bottom"], s["fraction"])
        samples[init] = _star_samples(start_weights, grads, request.seed)

    record = {
        "schema_version": SCHEMA_VERSION,
        "kind": "inspect",
        "stream": request.stream.name,
        "task": task.name,
        "backbone": request.backbone,
        "seed": request.seed,
        "settings": s,
        "summary": {init: summarise(layers[init], s["fraction"]) for init in INITIALISATIONS},
        "layers": {init: [dataclasses.asdict(d) for d in layers[init]] for init in INITIALISATIONS},
        "env": environment(request.device),
        "timing": {"wall_s": time.perf_counter() - start},
    }
    stem = f"{request.stream.name}__{request.backbone}__seed{request.seed}"
    out_dir = Path(out_dir)
    write_text_atomically(out_dir / f"{stem}.json", json.dumps(record, indent=2, allow_nan=False) + "\n")
    figures = [out_dir / f"{stem}__star.png", out_dir / f"{stem}__ratio_r.png"]
    save_figure(_star_figure(samples, record), figures[0])
    save_figure(_ratio_figure(layers, record), figures[1])
    return record, [out_dir / f"{stem}.json", *figures]


def is_attention_matrix(name: str) -> bool:
    """A query, key or value projection's weight (BERT's attention.self.query, timm ViT's attn.qkv): the
    matrices of the paper's Table 1."""
    return name.endswith(("query.weight", "key.weight", "value.weight", "qkv.weight"))


def summarise(layers: list[LayerDiagnostic], fraction: float) -> dict:
    backbone = [d for d in layers if not d.name.startswith("heads.")]
    head = [d for d in layers if d.name.startswith("heads.")]
    attention = [d.ratio_r for d in backbone if is_attention_matrix(d.name)]
    return {
        "layers": len(backbone),
        "median_ratio_r": statistics.median(d.ratio_r for d in backbone),
        "median_overlap": statistics.median(d.overlap for d in backbone),
        "chance_overlap": fraction,
        "head_ratio_r": head[0].ratio_r if head else None,
        # r of the attention matrices (query, key, value), lowest and highest; None without any
        "attention_ratio_r": [min(attention), max(attention)] if attention else None,
    }


def format_summary(record: dict) -> str:
    s = record["settings"]
    lines = [f"{record['stream']} (task {record['task']}) | {record['backbone']} | {s['steps']} AdamW steps, "
             f"lr {s['lr']}, batch {s['batch_size']}",
             f"{'':<11}  {'layers':>6}  {'median r':>8}  {'head r':>7}  "
             f"{'overlap':>7}  {'chance':>6}"]
    for init, summary in record["summary"].items():
        head = summary["head_ratio_r"]
        lines.append(f"{init:<11}  {summary['layers']:>6}  {summary['median_ratio_r']:>8.3f}  "
                     f"{'n/a' if head is None else f'{head:.3f}':>7}  {summary['median_overlap']:>7.3f}  "
                     f"{summary['chance_overlap']:>6.3f}")
    for init, summary in record["summary"].items():
        if summary.get("attention_ratio_r"):
            low, high = summary["attention_ratio_r"]
            lines.append(f"{init}: attention matrices (query, key, value) r {low:.3f} to {high:.3f} (the paper's "
                         "Table 1: ViT-Tiny 0.04 to 0.2, ViT-L 0.009 to 0.07)")
    lines.append("r: median |w| of the top-|g| weights over the largest |w| of the bottom-|g| weights (lower: "
                 "large gradients sit on small weights); overlap: share of the smallest weights among the largest "
                 "gradients")
    return "\n".join(lines)


def _star_samples(weights: dict, grads: dict, seed: int, points: int = STAR_POINTS) -> dict:
    """(|w|, |g|) of up to `points` weights of a few backbone tensors spread over depth, and of the head."""
    large = [name for name, w in weights.items() if w.numel() >= 1000 and not name.startswith("heads.")]
    chosen = [large[round(q * (len(large) - 1))] for q in (0.2, 0.5, 0.9)] if large else []
    chosen += [name for name in weights if name.startswith("heads.")]
    generator = torch.Generator().manual_seed(seed)
    samples = {}
    for name in dict.fromkeys(chosen):
        w, g = weights[name].abs().flatten(), grads[name].abs().flatten()
        pick = torch.randperm(w.numel(), generator=generator)[:points]
        samples[name] = (w[pick].numpy(), g[pick].numpy())
    return samples


def _star_figure(samples: dict, record: dict):
    names = list(samples["pretrained"])
    figure, axes = plt.subplots(len(INITIALISATIONS), len(names), figsize=(3.2 * len(names), 6.2),
                                squeeze=False, layout="constrained")
    for i, init in enumerate(INITIALISATIONS):
        for j, name in enumerate(names):
            w, g = samples[init][name]
            ax = axes[i, j]
            ax.scatter(w, g, s=2, alpha=0.3, color="tab:blue" if init == "pretrained" else "tab:orange")
            ax.set_title(f"{init}: {name}", fontsize=8)
            ax.set_xlabel("|w| at the start", fontsize=8)
            ax.tick_params(labelsize=7)
        axes[i, 0].set_ylabel("mean |gradient|", fontsize=8)
    figure.suptitle(f"{record['stream']} ({record['task']}) | {record['backbone']}: |w| vs |gradient| over the first "
                    f"{record['settings']['steps']} fine-tuning steps (at most {STAR_POINTS} weights per panel)", fontsize=10)
    return figure


def _ratio_figure(layers: dict, record: dict):
    figure, ax = plt.subplots(figsize=(9, 3.8), layout="constrained")
    for init, colour in zip(INITIALISATIONS, ("tab:blue", "tab:orange")):
        ratios = [d.ratio_r for d in layers[init]]
        ax.plot(range(len(ratios)), ratios, marker="o", markersize=3, color=colour,
                label=f"{init} (median {record['summary'][init]['median_ratio_r']:.3f})")
        attention = [(i, d.ratio_r) for i, d in enumerate(layers[init]) if is_attention_matrix(d.name)]
        if attention:
            ax.scatter(*zip(*attention), marker="s", s=22, facecolors="none", edgecolors=colour,
                       label=f"{init}: attention matrices (query, key, value)")
    ax.set_yscale("log")
    ax.set_xlabel("weight tensor, input side on the left (the last one is the task head)")
    ax.set_ylabel("ratio r (log scale)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    figure.suptitle(f"{record['stream']} ({record['task']}) | {record['backbone']}: ratio r per weight tensor "
                    "(lower: large gradients on small weights)", fontsize=10)
    return figure
