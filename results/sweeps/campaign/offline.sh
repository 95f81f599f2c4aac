#!/usr/bin/env bash
# The offline campaign (offline.toml): tune every strategy of every cell on validation data (the
# same 5 lrs over 2 decades for all, seed 100, widened where the choice is an edge), then run 5
# seeds at the choices. The grid is where the first trials learnt: with 34 steps a task they chose
# 1e-3 to 1e-2, and the lowest lrs of per-strategy grids (1e-5 for AdamW, 1e-4 for NanoAdam)
# learnt little (results/README.md, the campaign).
# Options go to clbench tune and clbench sweep alike, e.g. --workers 2 (one thread a run: the most
# runs an hour on 2 cores); rerun the same command to resume after an interruption.
set -euo pipefail
sweep="$(dirname "$0")/offline.toml"
clbench tune --sweep "$sweep" --space lr=0.00032,0.001,0.0032,0.01,0.032 "$@"
clbench sweep "$sweep" "$@"
