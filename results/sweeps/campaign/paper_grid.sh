#!/usr/bin/env bash
# The paper's grid (paper_grid.toml): tune every strategy on every backbone by the protocol of the
# README (7 lrs on validation data, seed 100), then run 5 seeds at the choices. Options go to
# clbench tune and clbench sweep alike, e.g. --device cuda, --executor slurm ...; rerun the same
# command to resume after an interruption (finished trials and runs are not run again).
set -euo pipefail
sweep="$(dirname "$0")/paper_grid.toml"
clbench tune --sweep "$sweep" "$@"
clbench sweep "$sweep" "$@"
