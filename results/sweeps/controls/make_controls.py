"""Writes controls.toml, the sweep file of the controls campaign's step 2 (issue 29), with each
cell's head lr as step 1 chose it (heads.toml's tuned files): AdamW, NanoAdam and random_mask on
every cell (the 3 streams on Lite0 and the default stream on Lite2 with the statistics updated,
and frozen statistics on Lite0 for the two streams that shift between data sets); large_mask, LoRA
and AdamW with weight decay 0.01 beside them on the default stream. Run it from the repository root after step 1 (controls.sh does).
"""

from __future__ import annotations

import sys
from pathlib import Path

from clbench.errors import UsageError
from clbench.sweeps.spec import load_sweep

HERE = Path(__file__).resolve().parent
HEADS = HERE / "heads.toml"
OUT = HERE / "controls.toml"

# per stream: the data settings of heads.toml, and NanoAdam's mask interval (5-6 masks a task)
STREAMS = {
    "fashionmnist_mnist": ("epochs = 2, train_per_class = 158, val_fraction = 0.3165", 6),
    "fashionmnist_mnist_digits": ("epochs = 2, train_per_class = 140, val_fraction = 0.3572", 6),
    "split_fashionmnist": ("epochs = 2, train_per_class = 320, val_fraction = 0.15625", 4),
}
BACKBONES = ("efficientnet_lite0", "efficientnet_lite2")
EVERY_CELL = ["adamw", "nanoadam", "random_mask"]
DEFAULT_STREAM_ALSO = ["large_mask", "lora"]
FROZEN_STATISTICS = ("fashionmnist_mnist", "fashionmnist_mnist_digits")  # on Lite0
WEIGHT_DECAY = 0.01  # AdamW's curve with decay beside its curve without, on the default stream
MASKED = ("nanoadam", "random_mask", "large_mask")
# Issue 29's budget (25 machine-hours with the first campaign's 7.8) does not hold every cell and
# the long-task cell: as it says, Lite2 goes first, kept on the default stream only
OTHER_STREAMS_BACKBONES = BACKBONES[:1]  # Lite0

HEADER = """# Issue 29, step 2 of the controls campaign: written by make_controls.py from step 1's choices
# (heads.toml); do not edit by hand. Every strategy of a cell trains its heads with the cell's
# head_lr (AdamW on the heads alone, tuned with the backbone frozen), so that the strategy under
# test moves only the backbone. The lr curves are the tuning trials (3 seeds a point, 7 lrs over
# 3 decades, widened where a choice is an edge); `clbench sweep` of this file would add 5 seeds at
# the choices, which the campaign's budget leaves out. Lite2 runs on the default stream only (the
# budget; see make_controls.py):
#
#   bash results/sweeps/controls/controls.sh --workers 2
#   clbench analyze results/sweeps/controls/controls.toml      # the contrasts below, per cell
seeds = [0, 1, 2, 3, 4]
tuned = true
contrasts = ["nanoadam - random_mask", "nanoadam - adamw", "nanoadam - large_mask", "nanoadam - lora",
             "random_mask - adamw", "nanoadam - adamw weight_decay=0.01"]
"""


def head_lrs() -> dict[tuple[str, str], float]:
    """(stream, backbone) -> the lr step 1 chose for the heads."""
    runs = load_sweep(HEADS, Path("results/runs"))
    return {(run.stream, run.backbone): run.config["lr"][0] for run in runs}


def grid(stream: str, backbone: str, strategies: list[str], head_lr: float, frozen: bool, extra: str = "") -> str:
    data, interval = STREAMS[stream]
    what = ("frozen statistics" if frozen else "statistics updated") + (f", {extra}" if extra else "")
    settings = f"{data}, head_lr = {head_lr!r}" + (", freeze_norm_stats = true" if frozen else "")
    lines = ["", f"[[grid]]  # {stream}, {backbone}, {what}", f'stream = "{stream}"', f'backbone = "{backbone}"',
             "strategy = [" + ", ".join(f'"{name}"' for name in strategies) + "]",
             f"set = {{ {settings}{', ' + extra if extra else ''} }}"]
    lines += [f"strategies.{name} = {{ mask_interval = {interval} }}" for name in strategies if name in MASKED]
    return "\n".join(lines) + "\n"


def main() -> int:
    try:
        chosen = head_lrs()
    except UsageError as exc:
        print(f"make_controls: step 1 is not done ({exc}); run bash results/sweeps/controls/controls.sh first",
              file=sys.stderr)
        return 2
    text = HEADER
    for stream in STREAMS:
        for backbone in BACKBONES if stream == "fashionmnist_mnist" else OTHER_STREAMS_BACKBONES:
            strategies = EVERY_CELL + (DEFAULT_STREAM_ALSO if stream == "fashionmnist_mnist" else [])
            text += grid(stream, backbone, strategies, chosen[stream, backbone], frozen=False)
            if stream == "fashionmnist_mnist":
                text += grid(stream, backbone, ["adamw"], chosen[stream, backbone], frozen=False,
                             extra=f"weight_decay = {WEIGHT_DECAY}")
    for stream in FROZEN_STATISTICS:
        text += grid(stream, BACKBONES[0], EVERY_CELL, chosen[stream, BACKBONES[0]], frozen=True)
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
