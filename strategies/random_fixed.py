"""Control for NanoAdam: a random mask of the same share of weights, drawn once per task and kept, so
that about as many distinct weights move as under NanoAdam (whose small weights stay small, so its
masks change little), fewer than under random_mask (a new draw at every refresh)."""

from clbench_strategies.nanoadam import mask_control

STRATEGY = mask_control(
    "random_fixed", "random",
    "control for NanoAdam: Adam on the same share of weights chosen at random once per task (then kept)",
    once_per_task=True,
)
