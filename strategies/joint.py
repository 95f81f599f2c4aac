"""Joint training: every task's data at once, each example through its own task's head (the ceiling
a sequential run is measured against)."""

from clbench.methods.compose import method_strategy

STRATEGY = method_strategy(
    name="joint",
    description="joint training on all tasks at once (the ceiling), with --set optimizer (adamw)",
    defaults={},
    joint=True,
)
