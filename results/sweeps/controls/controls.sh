#!/usr/bin/env bash
# Issue 29's controls campaign (which weights, or how few?). Options go to clbench tune and clbench
# sweep alike, e.g. --workers 2; rerun the same command to resume after an interruption.
#  1. each cell's head lr (heads.toml): the lr at which AdamW trains the heads best over 3 tuning
#     seeds while the backbone stays frozen; every strategy of the cell trains its heads with it
#  2. controls.toml, written from those choices by make_controls.py: the lr curves of adamw,
#     nanoadam, random_mask (and large_mask, lora on the default stream), 3 seeds a point
#  3. AdamW's curve extended to lower lrs (extend.toml) in the cells where step 2's did not reach
#     down to the other strategies' curves, so that every pair compared shares a range
#  4. the long-task cell (long.toml): the default stream on Lite0 with 330 steps and 22 masks a
#     task, statistics updated and frozen, adamw, nanoadam and random_mask curves on 3 seeds
#  5. AdamW's long-task curve extended to lower lrs (long_extend.toml), where step 4's did not reach
#     down to the other strategies' curves
# The 5-seed runs at the chosen lrs (clbench sweep controls.toml) do not fit the issue's budget after
# these; the analysis reads its contrasts off the curves, which need none of them.
set -euo pipefail
here="$(dirname "$0")"
clbench tune --sweep "$here/heads.toml" --space lr=0.0001,0.00032,0.001,0.0032,0.01,0.032 --seeds 100,101,102 "$@"
python "$here/make_controls.py"
clbench tune --sweep "$here/controls.toml" --space lr=0.0001,0.00032,0.001,0.0032,0.01,0.032,0.1 --seeds 100,101,102 "$@"
clbench tune --sweep "$here/extend.toml" --space lr=0.00001,0.000032,0.0001,0.00032,0.001,0.0032,0.01,0.032,0.1 --seeds 100,101,102 --widen 0 "$@"
clbench tune --sweep "$here/long.toml" --space lr=0.0001,0.00032,0.001,0.0032 --seeds 100,101,102 --widen 1 "$@"
clbench tune --sweep "$here/long_extend.toml" --space lr=0.00001,0.000032,0.0001,0.00032,0.001,0.0032 --seeds 100,101,102 --widen 0 "$@"
