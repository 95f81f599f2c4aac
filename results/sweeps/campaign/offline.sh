#!/usr/bin/env bash
# The offline campaign (offline.toml): tune every strategy of every cell on validation data (5 lrs
# over 2 decades, seed 100, widened where the choice is an edge), then run 5 seeds at the choices.
# Options go to clbench tune and clbench sweep alike, e.g. --workers 2 (one thread a run: the most
# runs an hour on 2 cores); rerun the same command to resume after an interruption.
set -euo pipefail
sweep="$(dirname "$0")/offline.toml"
clbench tune --sweep "$sweep" --points 5 --decades 2 "$@"
clbench sweep "$sweep" "$@"
