#!/usr/bin/env bash
# Issue 29's controls campaign (which weights, or how few?). Step 1: each cell's head lr (heads.toml),
# the lr at which AdamW trains the heads best over 3 tuning seeds while the backbone stays frozen;
# every strategy of the cell then trains its heads with it (head_lr). Options go to clbench tune,
# e.g. --workers 2; rerun the same command to resume after an interruption.
set -euo pipefail
here="$(dirname "$0")"
clbench tune --sweep "$here/heads.toml" --space lr=0.0001,0.00032,0.001,0.0032,0.01,0.032 --seeds 100,101,102 "$@"
